// The lease database of a subnet router: which real address holds which virtual IP, and which nodes the other
// routers of the session announced.
//
// Theory of operation: a *local* lease maps one real IPv4 address (a compute node of this site) to one
// virtual IP of the site's subnet and a host name. Every registration connection from that real address takes
// a reference; the lease ends when the last reference is dropped. Address assignment follows
// docs/route-table.md: the first address of the subnet is the router's, the last is broadcast; a node gets
// the address it asks for if that is free and usable, else (when it asked for none) the lowest free one from
// the second address upward. *Remote* nodes come from NODE_ADD/NODE_DEL on router links and are kept per site
// for status output only (the data path never needs them: the peer router resolves its own leases).
//
// Pure data structure: no I/O, no clock. Not thread-safe (owned by the router's event loop).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/addr.h"
#include "common/result.h"

namespace uvpn::router {

struct Lease {
  Ip4 vip = 0;
  Ip4 real = 0;
  std::string name;
  uint32_t refs = 0;
  uint8_t key[32] = {};  // lease key (proto/auth.h), set by the router when the session has a secret
};

struct RemoteNode {
  Ip4 vip = 0;
  std::string name;
  std::string site;
};

class LeaseDb {
 public:
  // `subnet` is this site's subnet; `site` names default host names "<site>-<n>".
  LeaseDb(Cidr subnet, std::string site) : subnet_(subnet), site_(std::move(site)) {}

  // Takes a reference on the lease of `real`, creating it if needed. `want_vip` 0 = any; `name` empty =
  // derive. On success `*created` tells whether the lease is new (announce it). Errors (code
  // EADDRINUSE/EADDRNOTAVAIL/ ENOSPC) carry a message for the user; the wire code is always "address taken"
  // (2). An existing lease is shared when want_vip is 0 or equal to it; a different want_vip is an error.
  // A new lease's given `name` is refused (EADDRINUSE) when another local lease or a remote node has it
  // (case-insensitive: names resolve like DNS names), or when it has the form "<site>-<digits>" of a reserved
  // site (SetReservedSites): such names are derived by routers only, so derived names never collide.
  Result<const Lease*> Acquire(Ip4 real, Ip4 want_vip, const std::string& name, bool* created);
  void SetReservedSites(std::vector<std::string> sites) { reserved_ = std::move(sites); }
  // Drops one reference. Returns true if the lease ended (announce NODE_DEL for *vip).
  bool Release(Ip4 real, Ip4* vip);

  const Lease* ByReal(Ip4 real) const;
  void SetKey(Ip4 real, const uint8_t key[32]);  // no-op if `real` holds no lease
  const Lease* ByVip(Ip4 vip) const;
  // Local leases ordered by virtual IP (status output).
  std::vector<const Lease*> Sorted() const;
  size_t size() const { return by_real_.size(); }

  // True if `vip` may be leased to a node of this subnet (not router, network or broadcast address).
  bool Usable(Ip4 vip) const;

  // Remote nodes. AddRemote replaces an entry with the same vip.
  void AddRemote(Ip4 vip, std::string name, const std::string& site);
  void DelRemote(Ip4 vip, const std::string& site);  // only if it belongs to `site`
  void DropSite(const std::string& site);            // link down: forget its nodes
  const std::map<Ip4, RemoteNode>& remotes() const { return remote_; }

 private:
  Cidr subnet_;
  std::string site_;
  std::unordered_map<Ip4, Lease> by_real_;
  std::unordered_map<Ip4, Ip4> vip_to_real_;
  std::map<Ip4, RemoteNode> remote_;
  std::vector<std::string> reserved_;  // site names whose "<site>-<digits>" names are derived-only

  Status CheckName(const std::string& name) const;
};

}  // namespace uvpn::router
