// Status report formatting (see status.h).
#include "router/status.h"

#include <cstdarg>
#include <cstdio>

namespace uvpn::router {
namespace {

void Appendf(std::string* out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void Appendf(std::string* out, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) out->append(buf, static_cast<size_t>(n) < sizeof buf ? static_cast<size_t>(n) : sizeof buf - 1);
}

}  // namespace

void AppendJsonString(std::string* out, std::string_view in) {
  out->push_back('"');
  for (unsigned char c : in) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          Appendf(out, "\\u%04x", c);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

std::string FormatText(const Snapshot& s) {
  std::string o;
  Appendf(&o, "site %s  session %s\n", s.site.c_str(), s.session.c_str());
  Appendf(&o, "links (%zu):\n", s.links.size());
  for (const auto& l : s.links)
    Appendf(&o, "  %-16s %-21s %-4s since %.1fs  %s%s\n", l.site.c_str(), FormatEndpoint(l.endpoint).c_str(),
            l.up ? "up" : "down", l.since_s, l.security.c_str(), l.cut ? "  (cut by uvpn chaos)" : "");
  Appendf(&o, "nodes (%zu):\n", s.nodes.size());
  for (const auto& n : s.nodes)
    Appendf(&o, "  %-15s %-15s %-24s %-16s %s\n", FormatIp4(n.vip).c_str(),
            n.real ? FormatIp4(n.real).c_str() : "-", n.name.c_str(), n.site.c_str(),
            n.local ? "local" : "remote");
  Appendf(&o, "relays (%zu):\n", s.relays.size());
  for (const auto& r : s.relays) {
    Appendf(&o, "  %016llx %21s -> %-21s %-12s fwd %llu rev %llu age %.1fs",
            static_cast<unsigned long long>(r.id), FormatEndpoint(r.src).c_str(),
            FormatEndpoint(r.dst).c_str(), r.state.c_str(), static_cast<unsigned long long>(r.bytes_fwd),
            static_cast<unsigned long long>(r.bytes_rev), r.age_s);
    if (r.resumable)
      Appendf(&o, " unacked %llu spilled %llu outages %u", static_cast<unsigned long long>(r.unacked),
              static_cast<unsigned long long>(r.spilled), r.suspensions);
    o += '\n';
  }
  const RecoveryStats& v = s.recovery;
  Appendf(&o,
          "recovery: %s, suspended %llu, suspensions %llu, resumes %llu, replayed %llu B, deadline resets %llu, "
          "orphan resets %llu, ring %llu B, spill %llu B in %llu files\n",
          v.enabled ? "on" : "off", static_cast<unsigned long long>(v.suspended),
          static_cast<unsigned long long>(v.suspensions), static_cast<unsigned long long>(v.resumes),
          static_cast<unsigned long long>(v.replayed_bytes), static_cast<unsigned long long>(v.deadline_resets),
          static_cast<unsigned long long>(v.orphan_resets), static_cast<unsigned long long>(v.ring_bytes),
          static_cast<unsigned long long>(v.spill_bytes), static_cast<unsigned long long>(v.spill_files));
  const UdpStats& u = s.udp;
  Appendf(&o, "udp: rx %llu tx %llu drops: malformed %llu no_lease %llu no_route %llu link_down %llu send %llu auth %llu\n",
          static_cast<unsigned long long>(u.rx), static_cast<unsigned long long>(u.tx),
          static_cast<unsigned long long>(u.drop_malformed), static_cast<unsigned long long>(u.drop_no_lease),
          static_cast<unsigned long long>(u.drop_no_route), static_cast<unsigned long long>(u.drop_link_down),
          static_cast<unsigned long long>(u.drop_send), static_cast<unsigned long long>(u.drop_auth));
  return o;
}

std::string FormatJson(const Snapshot& s) {
  std::string o = "{\"site\":";
  AppendJsonString(&o, s.site);
  o += ",\"session\":";
  AppendJsonString(&o, s.session);
  o += ",\"links\":[";
  for (size_t i = 0; i < s.links.size(); ++i) {
    const auto& l = s.links[i];
    if (i) o += ',';
    o += "{\"site\":";
    AppendJsonString(&o, l.site);
    o += ",\"endpoint\":";
    AppendJsonString(&o, FormatEndpoint(l.endpoint));
    Appendf(&o, ",\"up\":%s,\"cut\":%s,\"since_s\":%.3f,\"security\":", l.up ? "true" : "false",
            l.cut ? "true" : "false", l.since_s);
    AppendJsonString(&o, l.security);
    Appendf(&o, ",\"legs_pooled\":%llu,\"legs_dialled\":%llu}", static_cast<unsigned long long>(l.legs_pooled),
            static_cast<unsigned long long>(l.legs_dialled));
  }
  o += "],\"nodes\":[";
  for (size_t i = 0; i < s.nodes.size(); ++i) {
    const auto& n = s.nodes[i];
    if (i) o += ',';
    o += "{\"vip\":";
    AppendJsonString(&o, FormatIp4(n.vip));
    o += ",\"real\":";
    if (n.real) {
      AppendJsonString(&o, FormatIp4(n.real));
    } else {
      o += "null";
    }
    o += ",\"name\":";
    AppendJsonString(&o, n.name);
    o += ",\"site\":";
    AppendJsonString(&o, n.site);
    Appendf(&o, ",\"local\":%s,\"refs\":%u}", n.local ? "true" : "false", n.refs);
  }
  o += "],\"relays\":[";
  for (size_t i = 0; i < s.relays.size(); ++i) {
    const auto& r = s.relays[i];
    if (i) o += ',';
    Appendf(&o, "{\"id\":\"%016llx\",\"src\":", static_cast<unsigned long long>(r.id));
    AppendJsonString(&o, FormatEndpoint(r.src));
    o += ",\"dst\":";
    AppendJsonString(&o, FormatEndpoint(r.dst));
    o += ",\"state\":";
    AppendJsonString(&o, r.state);
    Appendf(&o,
            ",\"bytes_fwd\":%llu,\"bytes_rev\":%llu,\"age_s\":%.3f,\"resumable\":%s,\"suspended\":%s,"
            "\"unacked\":%llu,\"ring\":%llu,\"spilled\":%llu,\"suspensions\":%u}",
            static_cast<unsigned long long>(r.bytes_fwd), static_cast<unsigned long long>(r.bytes_rev), r.age_s,
            r.resumable ? "true" : "false", r.suspended ? "true" : "false",
            static_cast<unsigned long long>(r.unacked), static_cast<unsigned long long>(r.ring),
            static_cast<unsigned long long>(r.spilled), r.suspensions);
  }
  const RecoveryStats& v = s.recovery;
  Appendf(&o,
          "],\"recovery\":{\"enabled\":%s,\"suspended\":%llu,\"suspensions\":%llu,\"resumes\":%llu,"
          "\"replayed_bytes\":%llu,\"deadline_resets\":%llu,\"orphan_resets\":%llu,\"resume_failures\":%llu,"
          "\"ring_bytes\":%llu,\"spill_bytes\":%llu,\"spill_files\":%llu,\"spilled_total\":%llu",
          v.enabled ? "true" : "false", static_cast<unsigned long long>(v.suspended),
          static_cast<unsigned long long>(v.suspensions), static_cast<unsigned long long>(v.resumes),
          static_cast<unsigned long long>(v.replayed_bytes), static_cast<unsigned long long>(v.deadline_resets),
          static_cast<unsigned long long>(v.orphan_resets), static_cast<unsigned long long>(v.resume_failures),
          static_cast<unsigned long long>(v.ring_bytes), static_cast<unsigned long long>(v.spill_bytes),
          static_cast<unsigned long long>(v.spill_files), static_cast<unsigned long long>(v.spilled_total));
  o += '}';
  const UdpStats& u = s.udp;
  Appendf(&o,
          ",\"udp\":{\"rx\":%llu,\"tx\":%llu,\"drop_malformed\":%llu,\"drop_no_lease\":%llu,"
          "\"drop_no_route\":%llu,\"drop_link_down\":%llu,\"drop_send\":%llu,\"drop_auth\":%llu}}\n",
          static_cast<unsigned long long>(u.rx), static_cast<unsigned long long>(u.tx),
          static_cast<unsigned long long>(u.drop_malformed), static_cast<unsigned long long>(u.drop_no_lease),
          static_cast<unsigned long long>(u.drop_no_route), static_cast<unsigned long long>(u.drop_link_down),
          static_cast<unsigned long long>(u.drop_send), static_cast<unsigned long long>(u.drop_auth));
  return o;
}

}  // namespace uvpn::router
