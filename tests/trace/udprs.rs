// A statically linked Rust UDP client for the ptrace monitor's tests (docs/trace.md "UDP"), built by
// test_trace.py with `rustc -C target-feature=+crt-static` when rustc is installed. Rust's std uses sendto and
// recvfrom with addresses for send_to/recv_from, connect, and send()/recv() (sendto/recvfrom with NULL) on a
// connected socket. Usage: udprs IP:PORT -> "A <answer> <from>" and "B <answer> peer=<addr> local=<addr>"
use std::net::UdpSocket;
use std::time::Duration;

fn main() {
    let dst = std::env::args().nth(1).expect("usage: udprs IP:PORT");
    let s = UdpSocket::bind("0.0.0.0:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.send_to(b"rust-a", &dst).unwrap();
    let mut b = [0u8; 64];
    let (n, from) = s.recv_from(&mut b).unwrap();
    println!("A {} {}", String::from_utf8_lossy(&b[..n]), from);
    let c = UdpSocket::bind("0.0.0.0:0").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.connect(&dst).unwrap();
    c.send(b"rust-b").unwrap();
    let n = c.recv(&mut b).unwrap();
    println!("B {} peer={} local={}", String::from_utf8_lossy(&b[..n]), c.peer_addr().unwrap(),
             c.local_addr().unwrap());
}
