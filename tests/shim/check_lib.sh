#!/bin/bash
# Checks the shape of libuvpn_shim.so (docs/shim.md, "Boundary rules"):
#  - NEEDED lists only libc.so.6 (and the dynamic loader): no libstdc++, libgcc_s, libm;
#  - the dynamic symbol table exports exactly the hooks;
#  - no global constructors (_GLOBAL__sub_I_* functions) were compiled in.
# Usage: check_lib.sh PATH/libuvpn_shim.so
set -u
lib=${1:?usage: check_lib.sh LIB}
fail=0
needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
for n in $needed; do
  case "$n" in
    libc.so.6|ld-linux*) ;;
    *) echo "FAIL: unexpected NEEDED $n"; fail=1 ;;
  esac
done
echo "$needed" | grep -qx 'libc.so.6' || { echo "FAIL: libc.so.6 not NEEDED"; fail=1; }
exports=$(readelf --dyn-syms -W "$lib" | awk '$7 != "UND" && $5 == "GLOBAL" {print $8}' | sed 's/@.*//' | sort | tr '\n' ' ')
want="__read_chk __recv_chk __recvfrom_chk accept accept4 bind close close_range connect dup dup2 "
want+="dup3 fcntl fcntl64 freeifaddrs getaddrinfo gethostbyaddr gethostbyaddr_r gethostbyname "
want+="gethostbyname2 gethostbyname2_r gethostbyname_r gethostname getifaddrs getnameinfo "
want+="getpeername getsockname getsockopt ioctl read recv recvfrom recvmmsg recvmsg send sendmmsg "
want+="sendmsg sendto socket uname write "
[ "$exports" = "$want" ] || { echo "FAIL: exports '$exports', want '$want'"; fail=1; }
if nm "$lib" 2>/dev/null | grep -q '_GLOBAL__sub_I'; then echo "FAIL: global constructor present"; fail=1; fi
[ $fail = 0 ] && echo "ok: NEEDED=[$(echo $needed)] exports=[$exports]"
exit $fail
