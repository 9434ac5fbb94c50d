// The monitor: starts the command under ptrace and runs the stop loop (docs/trace.md).
//
// Theory of operation: one thread, the tracer of every tracee. A tracee is resumed with PTRACE_CONT (filter
// mode: it stops again only at a SECCOMP_RET_TRACE call or a ptrace event) or PTRACE_SYSCALL (ptrace-all, or
// when the exit stop of its current call is wanted). A trapped call is handed to Calls, which answers at once
// (run the call, or skip it with a return value) or with an Op: the thread then stays in its stop while the Op
// waits in this loop. With no Op pending, the loop is a blocking waitpid(-1, __WALL); with Ops pending it polls
// a signalfd for SIGCHLD plus the Ops' fds, and drains waitpid(WNOHANG) after each SIGCHLD. A third answer,
// Verdict::kArm (a UDP socket connected or sending to a virtual address), makes the thread run seccomp() in place
// of its (already performed or skipped) call to add a
// descriptor filter, then puts its registers back at the exit stop (docs/trace.md "UDP").
//
// Tracee bookkeeping: a task is known from the fork/clone event of its parent or from its first stop, whichever
// comes first; auto-attached tasks start with a PTRACE_EVENT_STOP (SIGTRAP) that is simply resumed; later
// PTRACE_EVENT_STOPs carrying a stop signal are group stops, held with PTRACE_LISTEN. The loop ends when no
// tracee is left (waitpid says ECHILD).
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/log.h"
#include "trace/calls.h"
#include "trace/filter.h"
#include "trace/trace.h"
#include "trace/tracee.h"

namespace uvpn::trace {
namespace {

constexpr int kExitSetupFailed = 70;
constexpr int kForwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

volatile sig_atomic_t g_main_pid = 0;

void Forward(int sig, siginfo_t* si, void*) {
  // Terminal signals (sent by the kernel to the whole process group) already reached the command.
  if (si != nullptr && si->si_pid == 0 && (sig == SIGINT || sig == SIGQUIT)) return;
  if (g_main_pid > 0) kill(g_main_pid, sig);
}

struct Thread {
  pid_t tgid = 0;          // 0 until needed
  StopKind stop = StopKind::kNone;
  ExitWatch watch;         // exit stop wanted for this
  bool set_ret = false;    // ptrace-all: a skipped call whose value must be written again at the exit stop
  int64_t ret = 0;
  int arming = 0;          // Verdict::kArm: 1 an injected mmap() runs in place of the call, 2 then seccomp();
                           // Verdict::kRedirect: 3 an injected mmap(), then the call again with the new path
  int redirect_arg = -1;   // arming 3: the path argument, and its original value
  uint64_t redirect_orig = 0;
  std::string redirect_path;
  int arm_fd = -1;
  int64_t arm_fail = 0;    // arming: the return value if the kernel refuses the filter
  Regs saved;              // arming: the registers of the replaced call
};

struct Stats {
  uint64_t stops = 0, seccomp = 0, syscall = 0, event = 0, signal = 0;
};

class Monitor {
 public:
  Monitor(const Options& opt, pid_t main) : opt_(opt), calls_(opt), main_(main) { threads_[main]; }
  int Loop(int sfd);
  const Stats& stats() const { return stats_; }
  uint64_t trapped() const { return calls_.trapped(); }

 private:
  void Handle(pid_t pid, int status);
  void OnCall(pid_t tid, Thread& t, const CallInfo& c);
  void OnExitStop(pid_t tid, Thread& t, const CallInfo& c);
  void Settle(pid_t tid, Thread& t, Next next);
  void Apply(pid_t tid, Thread& t, const Verdict& v);
  bool Arm(pid_t tid, Thread& t, const Verdict& v);
  bool Redirect(pid_t tid, Thread& t, const Verdict& v);
  void RedirectMapped(pid_t tid, Thread& t, int64_t page);
  bool WriteFdFilter(pid_t tid, uint64_t page, int fd);
  void Resume(pid_t tid, const Thread& t, int sig = 0);
  void StepOps(const std::vector<pollfd>& pfds, const std::vector<pid_t>& owners);
  pid_t Tgid(pid_t tid, Thread& t) {
    if (t.tgid == 0) t.tgid = TgidOf(tid);
    return t.tgid != 0 ? t.tgid : tid;
  }

  const Options& opt_;
  Calls calls_;
  pid_t main_;
  int main_status_ = -1;
  std::unordered_map<pid_t, Thread> threads_;
  std::map<pid_t, std::unique_ptr<Op>> ops_;  // by stopped thread
  // By process: a page mapped for descriptor filters (Arm), in kScratchSlots slots used in turn.
  struct Scratch {
    uint64_t page = 0;
    uint64_t next = 0;
  };
  static constexpr uint64_t kScratchSlot = 256, kScratchSlots = 16;  // a filter + fprog: 168 bytes
  std::unordered_map<pid_t, Scratch> scratch_;
  std::unordered_set<pid_t> no_scratch_;  // processes where mapping the page failed: redirects run unchanged
  Stats stats_;
};

void Monitor::Resume(pid_t tid, const Thread& t, int sig) {
  bool syscall = opt_.mode == Mode::kPtraceAll || t.watch.any() || t.set_ret || t.arming;
  (void)ptrace(syscall ? PTRACE_SYSCALL : PTRACE_CONT, tid, nullptr, reinterpret_cast<void*>(sig));
}

// Replaces the call at t's seccomp stop by seccomp(SET_MODE_FILTER, TSYNC, BuildFdFilter(v.fd)) run by the
// thread. The program is written to a page of the process's own (scratch_), mapped first by an injected mmap()
// when the process has none yet: then the thread reissues its syscall instruction as seccomp() at the mmap's exit
// stop. (Not below the stack pointer: a Go goroutine's stack may end a few hundred bytes below it.) The exit stop
// of seccomp() (OnExitStop) puts the registers back with the call's return value v.ret.
bool Monitor::Arm(pid_t tid, Thread& t, const Verdict& v) {
  if (t.stop != StopKind::kSeccomp || !GetRegs(tid, &t.saved)) return false;
  pid_t tgid = Tgid(tid, t);
  auto it = scratch_.find(tgid);
  bool ok;
  if (it != scratch_.end()) {
    // One slot per arming in flight: threads of one process arming at once must not share a program.
    uint64_t slot = it->second.page + (it->second.next++ % kScratchSlots) * kScratchSlot;
    ok = WriteFdFilter(tid, slot, v.fd) &&
         SetCall(tid, SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, slot);
  } else {
    ok = SetCall(tid, SYS_mmap, 0, kScratchSlots * kScratchSlot, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, static_cast<uint64_t>(-1), 0);
  }
  if (!ok) return false;
  t.arming = it != scratch_.end() ? 2 : 1;
  t.arm_fd = v.fd;
  t.arm_fail = v.fail;
  t.ret = v.ret;
  return true;
}

// Verdict::kRedirect: the path v.path is written to a slot of the process's page (scratch_) and argument v.fd of
// the call at t's seccomp or entry stop points to it; the call then runs. Without a page yet, the call is first
// replaced by the page's mmap(), and its exit stop (RedirectMapped) writes the path and reissues the call.
// False: the call must run unchanged.
bool Monitor::Redirect(pid_t tid, Thread& t, const Verdict& v) {
  size_t len = strlen(v.path) + 1;
  if ((t.stop != StopKind::kSeccomp && t.stop != StopKind::kEntry) || len > kScratchSlot) return false;
  pid_t tgid = Tgid(tid, t);
  if (no_scratch_.count(tgid) != 0) return false;
  auto it = scratch_.find(tgid);
  if (it != scratch_.end()) {
    uint64_t slot = it->second.page + (it->second.next++ % kScratchSlots) * kScratchSlot;
    return WriteMem(tid, slot, v.path, len) && SetArg(tid, v.fd, slot);
  }
  if (!GetRegs(tid, &t.saved) ||
      !SetCall(tid, SYS_mmap, 0, kScratchSlots * kScratchSlot, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
               static_cast<uint64_t>(-1), 0))
    return false;
  t.arming = 3;
  t.redirect_arg = v.fd;
  t.redirect_orig = static_cast<uint64_t>(v.ret);
  t.redirect_path = v.path;
  return true;
}

// The exit stop of the page's mmap() for a redirect: on success the path goes to slot 0 and the thread reissues
// its call with the argument pointing there; on failure it reissues the call unchanged (and this process is
// never redirected again, so that the reissued call runs).
void Monitor::RedirectMapped(pid_t tid, Thread& t, int64_t page) {
  pid_t tgid = Tgid(tid, t);
  t.arming = 0;
  bool ok = page > 0 && WriteMem(tid, static_cast<uint64_t>(page), t.redirect_path.c_str(),
                                 t.redirect_path.size() + 1);
  if (ok) scratch_[tgid] = Scratch{static_cast<uint64_t>(page), 1};
  if (!ok || !ReissueWithArg(tid, t.saved, t.redirect_arg, static_cast<uint64_t>(page))) {
    LOG_WARN("names: no page in process %d (%lld): it reads the node's /etc/hosts", static_cast<int>(tgid),
             static_cast<long long>(page));
    no_scratch_.insert(tgid);
    (void)ReissueWithArg(tid, t.saved, t.redirect_arg, t.redirect_orig);
  }
  t.stop = StopKind::kNone;
  Resume(tid, t);
}

// The filter for fd and its sock_fprog at `page` (a slot: fprog first, the program 16 bytes in).
bool Monitor::WriteFdFilter(pid_t tid, uint64_t page, int fd) {
  std::vector<sock_filter> prog = BuildFdFilter(fd);
  if (16 + prog.size() * sizeof(sock_filter) > kScratchSlot) return false;
  struct {
    uint16_t len;
    uint8_t pad[6];
    uint64_t filter;
  } fprog = {static_cast<uint16_t>(prog.size()), {}, page + 16};
  return WriteMem(tid, page + 16, prog.data(), prog.size() * sizeof(sock_filter)) &&
         WriteMem(tid, page, &fprog, sizeof fprog);
}

void Monitor::Apply(pid_t tid, Thread& t, const Verdict& v) {
  if (v.kind == Verdict::kRedirect) {
    (void)Redirect(tid, t, v);  // false: the call runs unchanged
    t.stop = StopKind::kNone;
    t.watch = ExitWatch{};
    Resume(tid, t);
    return;
  }
  if (v.kind == Verdict::kArm) {
    if (Arm(tid, t, v)) {
      t.stop = StopKind::kNone;
      t.watch = ExitWatch{};
      Resume(tid, t);
      return;
    }
    calls_.ArmFailed(Tgid(tid, t), v.fd, -EFAULT);
    Apply(tid, t, Verdict::Skip(v.fail));
    return;
  }
  if (v.kind == Verdict::kSkip) {
    if (t.stop == StopKind::kExit) {
      (void)SetReturn(tid, v.ret);
    } else {
      (void)SkipCall(tid, v.ret);
      if (t.stop == StopKind::kEntry) {
        t.set_ret = true;
        t.ret = v.ret;
      }
      t.watch = ExitWatch{};
    }
  }
  t.stop = StopKind::kNone;
  Resume(tid, t);
}

void Monitor::Settle(pid_t tid, Thread& t, Next next) {
  if (next.op) {
    ops_[tid] = std::move(next.op);  // the thread stays stopped
    return;
  }
  ops_.erase(tid);
  Apply(tid, t, next.verdict);
}

void Monitor::OnCall(pid_t tid, Thread& t, const CallInfo& c) {
  t.stop = c.kind;
  // A data call stops in ptrace mode only through an injected descriptor filter; in ptrace-all, every call
  // stops and those on descriptors once connected to a virtual address are handled.
  bool data = IsDataCall(c.nr) && (c.kind == StopKind::kSeccomp || calls_.ArmedFd(c.args[0]));
  if (!data && !Interesting(c.nr, c.args, opt_.names)) {
    t.stop = StopKind::kNone;
    Resume(tid, t);
    return;
  }
  Settle(tid, t, calls_.OnEntry(tid, Tgid(tid, t), c, &t.watch));
}

void Monitor::OnExitStop(pid_t tid, Thread& t, const CallInfo& c) {
  t.stop = StopKind::kExit;
  if (t.arming == 3) return RedirectMapped(tid, t, c.ret);
  if (t.arming == 1) {  // the injected mmap() returned c.ret: keep the page, reissue the call as seccomp()
    pid_t tgid = Tgid(tid, t);
    uint64_t page = static_cast<uint64_t>(c.ret);
    if (c.ret > 0 && WriteFdFilter(tid, page, t.arm_fd) &&
        Reissue(tid, t.saved, SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, page)) {
      scratch_[tgid] = Scratch{page, 1};  // slot 0 is this thread's
      t.arming = 2;
      t.stop = StopKind::kNone;
      Resume(tid, t);  // PTRACE_SYSCALL: an entry stop (passed through), then the exit stop below
      return;
    }
    t.arming = 0;
    (void)SetRegs(tid, t.saved);
    calls_.ArmFailed(tgid, t.arm_fd, c.ret);
    Apply(tid, t, Verdict::Skip(t.arm_fail));
    return;
  }
  // The injected seccomp() returned c.ret: back to the replaced call, with its result. (After a reissue, a signal
  // handler may run first and make calls of its own: their exit stops are not this one.)
  if (t.arming == 2 && CurrentNr(tid) == SYS_seccomp) {
    t.arming = 0;
    (void)SetRegs(tid, t.saved);
    if (c.ret != 0) calls_.ArmFailed(Tgid(tid, t), t.arm_fd, c.ret);
    Apply(tid, t, Verdict::Skip(c.ret == 0 ? t.ret : t.arm_fail));
    return;
  }
  if (t.set_ret) {
    t.set_ret = false;
    Apply(tid, t, Verdict::Skip(t.ret));
    return;
  }
  ExitWatch w = t.watch;
  t.watch = ExitWatch{};
  if (!w.any()) {
    Apply(tid, t, Verdict::Run());
    return;
  }
  Settle(tid, t, calls_.OnExit(tid, Tgid(tid, t), w, c.ret));
}

void Monitor::Handle(pid_t pid, int status) {
  if (WIFEXITED(status) || WIFSIGNALED(status)) {
    calls_.ForgetProcess(pid);  // a no-op unless pid was a group leader with armed descriptors
    scratch_.erase(pid);
    no_scratch_.erase(pid);
    threads_.erase(pid);
    ops_.erase(pid);
    if (pid == main_) main_status_ = status;
    return;
  }
  if (!WIFSTOPPED(status)) return;
  ++stats_.stops;
  Thread& t = threads_[pid];
  int sig = WSTOPSIG(status);
  int event = status >> 16;
  // Job control (PTRACE_SEIZE semantics, man 2 ptrace "Group-stop", "PTRACE_LISTEN"). A stop signal to a thread
  // blocked in a trapped accept gives, in this order (traced with UVPN_TRACE_LOG=debug, both modes):
  //   1. syscall-exit-stop, ret -ERESTARTSYS (we asked for the exit stop): OnExit lets it through untouched;
  //   2. signal-delivery-stop for SIGSTOP: delivered unchanged (Resume with the signal), which starts the group stop;
  //   3. PTRACE_EVENT_STOP with WSTOPSIG = SIGSTOP: the group stop itself, held with PTRACE_LISTEN (the thread stays
  //      stopped; the tracer still hears about SIGCONT). A PTRACE_CONT here would cancel the stop for this thread.
  // On SIGCONT: PTRACE_EVENT_STOP with SIGTRAP (listen over: resume), signal-delivery-stop for SIGCONT, then the
  // kernel restarts the call (rip -= 2, rax = orig_rax) as a fresh syscall: a new seccomp stop (ptrace) or entry
  // stop (ptrace-all), trapped like the first. Nothing here must rewrite orig_rax or rax at stop 1, or the restart
  // is lost. Between these stops the thread runs (state R), so a stop seen in /proc is not yet the group stop.
  // New auto-attached tasks also start with a PTRACE_EVENT_STOP, reporting SIGTRAP unless a group stop is under way.
  if (event == PTRACE_EVENT_STOP) {
    ++stats_.event;
    bool group_stop = sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
    LOG_DEBUG("stop %d: event-stop sig=%d%s", static_cast<int>(pid), sig, group_stop ? " (group-stop: listen)" : "");
    if (group_stop)
      (void)ptrace(PTRACE_LISTEN, pid, nullptr, nullptr);
    else
      Resume(pid, t);
    return;
  }
  if (sig == (SIGTRAP | 0x80)) {
    ++stats_.syscall;
    CallInfo c;
    if (!GetCallInfo(pid, &c)) {
      LOG_DEBUG("stop %d: syscall-stop, no info", static_cast<int>(pid));
      Resume(pid, t);
    } else if (c.kind == StopKind::kExit) {
      LOG_DEBUG("stop %d: syscall-exit ret=%lld", static_cast<int>(pid), static_cast<long long>(c.ret));
      OnExitStop(pid, t, c);
    } else {
      LOG_DEBUG("stop %d: syscall-entry nr=%ld", static_cast<int>(pid), c.nr);
      OnCall(pid, t, c);
    }
    return;
  }
  if (sig == SIGTRAP && event != 0) {
    if (event == PTRACE_EVENT_SECCOMP) {
      ++stats_.seccomp;
      CallInfo c;
      bool ok = GetCallInfo(pid, &c) && c.kind == StopKind::kSeccomp;
      LOG_DEBUG("stop %d: seccomp nr=%ld", static_cast<int>(pid), ok ? c.nr : -1L);
      if (ok)
        OnCall(pid, t, c);
      else
        Resume(pid, t);
      return;
    }
    ++stats_.event;
    LOG_DEBUG("stop %d: ptrace event %d", static_cast<int>(pid), event);
    unsigned long msg = 0;
    if (event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_VFORK || event == PTRACE_EVENT_CLONE) {
      if (ptrace(PTRACE_GETEVENTMSG, pid, nullptr, &msg) == 0) threads_.try_emplace(static_cast<pid_t>(msg));
    } else if (event == PTRACE_EVENT_EXEC) {
      // A non-leader thread that execs takes the leader's id; its old id vanishes without an exit report.
      if (ptrace(PTRACE_GETEVENTMSG, pid, nullptr, &msg) == 0 && static_cast<pid_t>(msg) != pid) {
        threads_.erase(static_cast<pid_t>(msg));
        ops_.erase(static_cast<pid_t>(msg));
      }
      t.watch = ExitWatch{};
      t.set_ret = false;
      t.arming = 0;
      t.tgid = 0;
      scratch_.erase(pid);  // a new address space: the page is gone
      no_scratch_.erase(pid);
    }
    Resume(pid, t);
    return;
  }
  // Signal-delivery stop: deliver it unchanged.
  ++stats_.signal;
  LOG_DEBUG("stop %d: signal-delivery sig=%d (delivered)", static_cast<int>(pid), sig);
  Resume(pid, t, sig);
}

void Monitor::StepOps(const std::vector<pollfd>& pfds, const std::vector<pid_t>& owners) {
  int64_t now = NowMs();
  for (size_t i = 0; i < owners.size(); ++i) {
    auto it = ops_.find(owners[i]);
    if (it == ops_.end()) continue;  // the tracee died meanwhile
    bool ready = pfds[i + 1].fd >= 0 && (pfds[i + 1].revents & (pfds[i + 1].events | POLLERR | POLLHUP)) != 0;
    if (!ready && now < it->second->wait().deadline) continue;
    Next next(Verdict::Run());
    if (!it->second->Advance(ready, &next)) continue;
    auto th = threads_.find(owners[i]);
    if (th == threads_.end()) {
      ops_.erase(it);
      continue;
    }
    Settle(owners[i], th->second, std::move(next));
  }
}

int Monitor::Loop(int sfd) {
  std::vector<pollfd> pfds;
  std::vector<pid_t> owners;
  for (;;) {
    if (ops_.empty()) {
      int status;
      pid_t p = waitpid(-1, &status, __WALL);
      if (p < 0) {
        if (errno == EINTR) continue;
        break;  // ECHILD: every tracee is gone
      }
      Handle(p, status);
      continue;
    }
    pfds.assign(1, pollfd{sfd, POLLIN, 0});
    owners.clear();
    int64_t next = INT64_MAX;
    for (auto& [tid, op] : ops_) {
      const Wait& w = op->wait();
      pfds.push_back(pollfd{w.fd, w.fd >= 0 ? w.events : static_cast<short>(0), 0});
      owners.push_back(tid);
      if (w.deadline < next) next = w.deadline;
    }
    int64_t left = next - NowMs();
    int timeout = left < 0 ? 0 : left > 1000 ? 1000 : static_cast<int>(left);
    int r = poll(pfds.data(), pfds.size(), timeout);
    if (r < 0 && errno != EINTR) {
      LOG_ERROR("poll: %s", strerror(errno));
      break;
    }
    if (r > 0 && (pfds[0].revents & POLLIN) != 0) {
      signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
      }
    }
    // Reap every pending stop first (cheap, and it may end Ops whose tracee died), then advance the Ops.
    for (;;) {
      int status;
      pid_t p = waitpid(-1, &status, __WALL | WNOHANG);
      if (p <= 0) break;
      Handle(p, status);
    }
    StepOps(pfds, owners);
    if (threads_.empty() && ops_.empty()) break;
  }
  if (main_status_ < 0) return kExitSetupFailed;
  if (WIFEXITED(main_status_)) return WEXITSTATUS(main_status_);
  return 128 + WTERMSIG(main_status_);
}

[[noreturn]] void Child(int sync_fd, const sigset_t& old_mask, const std::vector<sock_filter>& filter, bool install,
                        char* const* argv) {
  for (int s : kForwarded) signal(s, SIG_DFL);
  sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  char c;
  ssize_t n;
  do n = read(sync_fd, &c, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1) _exit(kExitSetupFailed);  // the monitor did not seize us
  close(sync_fd);
  if (install) {
    int err = InstallFilter(filter);
    if (err != 0) {
      dprintf(2, "uvpn run: cannot install the seccomp filter: %s\n", strerror(err));
      _exit(kExitSetupFailed);
    }
  }
  execvp(argv[0], argv);
  int err = errno;
  dprintf(2, "uvpn run: cannot run '%s': %s\n", argv[0], strerror(err));
  _exit(err == ENOENT ? 127 : 126);
}

}  // namespace

int Run(const Options& opt, const std::vector<std::string>& argv) {
  if (const char* lv = getenv("UVPN_TRACE_LOG")) {
    log::Level l;
    if (log::ParseLevel(lv, &l)) log::SetLevel(l);
  }
  log::SetTag("trace");
  const char* st = getenv("UVPN_TRACE_STATS");
  bool stats = opt.stats || (st != nullptr && strcmp(st, "1") == 0);

  const char* nm = getenv("UVPN_TRACE_NAMES");
  Options o = opt;
  if (nm != nullptr && strcmp(nm, "0") == 0) o.names = false;
  std::vector<sock_filter> filter = BuildFilter(o.names);  // before fork: the child must not allocate
  std::vector<char*> av;
  std::vector<std::string> args = argv;
  for (auto& s : args) av.push_back(s.data());
  av.push_back(nullptr);

  sigset_t chld, old_mask;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, &old_mask);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  int sync[2];
  if (sfd < 0 || pipe2(sync, O_CLOEXEC) != 0) {
    fprintf(stderr, "uvpn run: monitor set-up: %s\n", strerror(errno));
    return kExitSetupFailed;
  }
  pid_t child = fork();
  if (child < 0) {
    fprintf(stderr, "uvpn run: fork: %s\n", strerror(errno));
    return kExitSetupFailed;
  }
  if (child == 0) {
    close(sync[1]);
    Child(sync[0], old_mask, filter, opt.mode == Mode::kPtrace, av.data());
  }
  close(sync[0]);
  long options = PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
                 PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_TRACESECCOMP;
  if (ptrace(PTRACE_SEIZE, child, nullptr, reinterpret_cast<void*>(options)) != 0) {
    fprintf(stderr, "uvpn run: cannot trace the command (ptrace: %s)\n", strerror(errno));
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    return kExitSetupFailed;
  }
  g_main_pid = child;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = Forward;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int s : kForwarded) sigaction(s, &sa, nullptr);
  char go = 1;
  if (write(sync[1], &go, 1) != 1) {
    fprintf(stderr, "uvpn run: monitor set-up: %s\n", strerror(errno));
  }
  close(sync[1]);

  Monitor m(o, child);
  int code = m.Loop(sfd);
  close(sfd);
  if (stats) {
    const Stats& s = m.stats();
    fprintf(stderr, "uvpn-trace: stops=%llu seccomp=%llu syscall=%llu event=%llu signal=%llu trapped=%llu\n",
            static_cast<unsigned long long>(s.stops), static_cast<unsigned long long>(s.seccomp),
            static_cast<unsigned long long>(s.syscall), static_cast<unsigned long long>(s.event),
            static_cast<unsigned long long>(s.signal), static_cast<unsigned long long>(m.trapped()));
  }
  return code;
}

}  // namespace uvpn::trace
