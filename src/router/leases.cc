// Lease database (see leases.h). Allocation scans the subnet from the second address: subnets are at most a
// /16 in practice and registrations are rare, so a linear scan over a hash lookup is plenty.
#include "router/leases.h"

#include <cstring>

#include <algorithm>
#include <strings.h>

#include <cerrno>

namespace uvpn::router {

bool LeaseDb::Usable(Ip4 vip) const {
  if (!subnet_.contains(vip)) return false;
  if (subnet_.prefix >= 31) return false;  // route-table.md bounds prefixes at 30; be safe anyway
  return vip > subnet_.first() + 1 && vip < subnet_.last();
}

Result<const Lease*> LeaseDb::Acquire(Ip4 real, Ip4 want_vip, const std::string& name, bool* created) {
  *created = false;
  auto it = by_real_.find(real);
  if (it != by_real_.end()) {
    if (want_vip != 0 && want_vip != it->second.vip)
      return Status(EADDRINUSE, "node " + FormatIp4(real) + " already holds " + FormatIp4(it->second.vip));
    ++it->second.refs;
    return &it->second;
  }
  Ip4 vip = 0;
  if (want_vip != 0) {
    if (!Usable(want_vip))
      return Status(EADDRNOTAVAIL,
                    FormatIp4(want_vip) + " is not a node address of subnet " + FormatCidr(subnet_));
    if (vip_to_real_.count(want_vip))
      return Status(EADDRINUSE, FormatIp4(want_vip) + " is leased to another node");
    vip = want_vip;
  } else {
    for (Ip4 v = subnet_.first() + 2; v < subnet_.last(); ++v) {
      if (!vip_to_real_.count(v)) {
        vip = v;
        break;
      }
    }
    if (vip == 0) return Status(ENOSPC, "subnet " + FormatCidr(subnet_) + " is full");
  }
  if (!name.empty()) {
    if (Status st = CheckName(name); !st.ok()) return st;
  }
  Lease l;
  l.vip = vip;
  l.real = real;
  l.name = name.empty() ? site_ + "-" + std::to_string(vip & ~subnet_.mask()) : name;
  l.refs = 1;
  vip_to_real_[vip] = real;
  *created = true;
  return &(by_real_[real] = std::move(l));
}

bool LeaseDb::Release(Ip4 real, Ip4* vip) {
  auto it = by_real_.find(real);
  if (it == by_real_.end()) return false;
  if (--it->second.refs > 0) return false;
  *vip = it->second.vip;
  vip_to_real_.erase(it->second.vip);
  by_real_.erase(it);
  return true;
}

namespace {
bool SameName(const std::string& a, const std::string& b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}
}  // namespace

Status LeaseDb::CheckName(const std::string& name) const {
  // "<site>-<digits>" is how routers derive names: reserved for them, so a derived name is never taken.
  for (const std::string& site : reserved_) {
    if (name.size() > site.size() + 1 && name[site.size()] == '-' &&
        SameName(name.substr(0, site.size()), site) &&
        name.find_first_not_of("0123456789", site.size() + 1) == std::string::npos)
      return Status(EADDRINUSE, "host name '" + name + "' has the form of a name routers derive (" + site + "-N)");
  }
  for (const auto& [real, l] : by_real_)
    if (SameName(l.name, name)) return Status(EADDRINUSE, "host name '" + name + "' is taken by " + FormatIp4(l.vip));
  for (const auto& [vip, n] : remote_)
    if (SameName(n.name, name))
      return Status(EADDRINUSE, "host name '" + name + "' is taken by " + FormatIp4(vip) + " (site " + n.site + ")");
  return Status::Ok();
}

const Lease* LeaseDb::ByReal(Ip4 real) const {
  auto it = by_real_.find(real);
  return it == by_real_.end() ? nullptr : &it->second;
}

const Lease* LeaseDb::ByVip(Ip4 vip) const {
  auto it = vip_to_real_.find(vip);
  return it == vip_to_real_.end() ? nullptr : ByReal(it->second);
}

std::vector<const Lease*> LeaseDb::Sorted() const {
  std::vector<const Lease*> v;
  v.reserve(by_real_.size());
  for (const auto& [real, l] : by_real_) v.push_back(&l);
  std::sort(v.begin(), v.end(), [](const Lease* a, const Lease* b) { return a->vip < b->vip; });
  return v;
}

void LeaseDb::AddRemote(Ip4 vip, std::string name, const std::string& site) {
  remote_[vip] = RemoteNode{vip, std::move(name), site};
}

void LeaseDb::DelRemote(Ip4 vip, const std::string& site) {
  auto it = remote_.find(vip);
  if (it != remote_.end() && it->second.site == site) remote_.erase(it);
}

void LeaseDb::DropSite(const std::string& site) {
  for (auto it = remote_.begin(); it != remote_.end();) {
    if (it->second.site == site)
      it = remote_.erase(it);
    else
      ++it;
  }
}

void LeaseDb::SetKey(Ip4 real, const uint8_t key[32]) {
  auto it = by_real_.find(real);
  if (it != by_real_.end()) memcpy(it->second.key, key, 32);
}

}  // namespace uvpn::router
