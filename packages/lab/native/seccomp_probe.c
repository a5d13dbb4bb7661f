// Test helper for the escape suite: calls syscalls the sandbox's seccomp filter denies and
// prints one `name=RESULT` line each (RESULT: `ok`, an errno name, or `noabi` when the kernel
// has no i386 entry). Built statically on the host and run inside a sandbox, where no compiler
// or python is available.
//
// The arguments are chosen so that without the filter each call succeeds or fails with an errno
// other than the filter's (EFAULT, EINVAL, EBADF, ...): a line that says EPERM (ENOSYS for
// clone3) came from the filter, not from a missing capability. Each call runs in a child of
// its own, so one that succeeds (a new user namespace, a personality) changes nothing else.
// Nothing here opens a connection: the vsock check only creates a socket.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define AF_VSOCK_FAMILY 40
#define UFFD_USER_MODE_ONLY_FLAG 1
#define X32_BIT 0x40000000L

// i386 syscall numbers (arch/x86/entry/syscalls/syscall_32.tbl), reached through int $0x80.
enum { I386_GETPID = 20, I386_MOUNT = 21, I386_PTRACE = 26, I386_CLONE = 120, I386_PERSONALITY = 136, I386_KEYCTL = 288,
       I386_UNSHARE = 310, I386_BPF = 357, I386_USERFAULTFD = 374, I386_CLONE3 = 435 };
// x32 numbers (syscall_64.tbl: common ones, and ptrace's x32 entry), with __X32_SYSCALL_BIT.
enum { X32_MOUNT = 165, X32_UNSHARE = 272, X32_KEYCTL = 250, X32_BPF = 321, X32_USERFAULTFD = 323, X32_PTRACE = 521 };

static long i386_call(long nr, long a, long b, long c) {
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
  return ret;
}

// Returns 0 or an errno, in the child.
static long sys_result(long ret) {
  return ret < 0 ? errno : 0;
}
static long i386_result(long ret) {
  return ret < 0 && ret > -4096 ? -ret : 0;
}

// A child that waits to be traced, and the attach, for both ABIs.
static long attach(int use_i386) {
  pid_t target = fork();
  if (target == 0) {
    // Where int $0x80 faults (a kernel without the i386 ABI) the probe dies before it kills this
    // child: it must then neither outlive the probe nor hold the result pipe open (the parent
    // would wait on it for ever).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) _exit(0);
    for (int fd = 3; fd < 1024; fd++) close(fd);
    pause();
    _exit(0);
  }
  long r = use_i386 ? i386_result(i386_call(I386_PTRACE, PTRACE_ATTACH, target, 0)) : sys_result(ptrace(PTRACE_ATTACH, target, 0, 0));
  kill(target, SIGKILL);
  waitpid(target, NULL, 0);
  return r;
}

// clone(2) with namespace flags, fork-style (no new stack); the new child leaves at once.
static long clone_ns(int use_i386) {
  long flags = CLONE_NEWUSER | SIGCHLD;
  long ret = use_i386 ? i386_call(I386_CLONE, flags, 0, 0) : syscall(SYS_clone, flags, 0, 0, 0, 0);
  if (ret == 0) _exit(0);
  if (ret > 0) {
    waitpid((pid_t)ret, NULL, 0);
    return 0;
  }
  return use_i386 ? -ret : errno;
}

static long run(const char *name) {
  char buf[16];
  struct iovec local = { buf, sizeof buf }, remote = { buf, sizeof buf };
  if (!strcmp(name, "mount")) return sys_result(syscall(SYS_mount, NULL, NULL, (void *)1, 0, NULL));
  if (!strcmp(name, "umount2")) return sys_result(syscall(SYS_umount2, "/", -1));
  if (!strcmp(name, "unshare")) return sys_result(syscall(SYS_unshare, CLONE_NEWUSER));
  if (!strcmp(name, "setns")) return sys_result(syscall(SYS_setns, -1, 0));
  if (!strcmp(name, "clone_newuser")) return clone_ns(0);
  if (!strcmp(name, "clone3")) return sys_result(syscall(SYS_clone3, NULL, 0));
  if (!strcmp(name, "keyctl")) return sys_result(syscall(SYS_keyctl, 9999, 0, 0, 0, 0));
  if (!strcmp(name, "add_key")) return sys_result(syscall(SYS_add_key, NULL, NULL, NULL, 0, 0));
  if (!strcmp(name, "bpf")) return sys_result(syscall(SYS_bpf, 9999, NULL, 0));
  if (!strcmp(name, "perf_event_open")) return sys_result(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
  if (!strcmp(name, "ptrace")) return attach(0);
  if (!strcmp(name, "process_vm_readv")) return sys_result(syscall(SYS_process_vm_readv, getpid(), &local, 1, &remote, 1, 0));
  if (!strcmp(name, "userfaultfd")) return sys_result(syscall(SYS_userfaultfd, UFFD_USER_MODE_ONLY_FLAG));
  if (!strcmp(name, "io_uring_setup")) return sys_result(syscall(SYS_io_uring_setup, 1, NULL));
  if (!strcmp(name, "open_tree")) return sys_result(syscall(SYS_open_tree, AT_FDCWD, "/", 0));
  if (!strcmp(name, "name_to_handle_at")) return sys_result(syscall(SYS_name_to_handle_at, AT_FDCWD, "/", NULL, NULL, 0));
  if (!strcmp(name, "kcmp")) return sys_result(syscall(SYS_kcmp, getpid(), getpid(), KCMP_VM, 0, 0));
  if (!strcmp(name, "pidfd_getfd")) return sys_result(syscall(SYS_pidfd_getfd, -1, 0, 0));
  if (!strcmp(name, "modify_ldt")) return sys_result(syscall(SYS_modify_ldt, 0, buf, sizeof buf));
  if (!strcmp(name, "chroot")) return sys_result(syscall(SYS_chroot, NULL));
  if (!strcmp(name, "clock_settime")) return sys_result(syscall(SYS_clock_settime, CLOCK_REALTIME, NULL));
  if (!strcmp(name, "socket_vsock")) return sys_result(syscall(SYS_socket, AF_VSOCK_FAMILY, SOCK_STREAM, 0));
  if (!strcmp(name, "personality_no_aslr")) return sys_result(syscall(SYS_personality, ADDR_NO_RANDOMIZE));
  if (!strcmp(name, "personality_top_bit")) return sys_result(syscall(SYS_personality, 0x80040000L));
  // What must keep working.
  if (!strcmp(name, "personality_query")) return sys_result(syscall(SYS_personality, 0xffffffffL));
  if (!strcmp(name, "personality_linux32")) return sys_result(syscall(SYS_personality, PER_LINUX32));
  if (!strcmp(name, "clone_plain")) {
    long ret = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (ret == 0) _exit(0);
    if (ret > 0) waitpid((pid_t)ret, NULL, 0);
    return sys_result(ret);
  }
  if (!strcmp(name, "socket_unix")) return sys_result(socket(AF_UNIX, SOCK_STREAM, 0));
  // The i386 ABI; i386_getpid tells whether the kernel has it at all.
  if (!strcmp(name, "i386_getpid")) return i386_result(i386_call(I386_GETPID, 0, 0, 0));
  if (!strcmp(name, "i386_mount")) return i386_result(i386_call(I386_MOUNT, 0, 0, 1));
  if (!strcmp(name, "i386_unshare")) return i386_result(i386_call(I386_UNSHARE, CLONE_NEWUSER, 0, 0));
  if (!strcmp(name, "i386_clone_newuser")) return clone_ns(1);
  if (!strcmp(name, "i386_clone3")) return i386_result(i386_call(I386_CLONE3, 0, 0, 0));
  if (!strcmp(name, "i386_keyctl")) return i386_result(i386_call(I386_KEYCTL, 9999, 0, 0));
  if (!strcmp(name, "i386_bpf")) return i386_result(i386_call(I386_BPF, 9999, 0, 0));
  if (!strcmp(name, "i386_ptrace")) return attach(1);
  if (!strcmp(name, "i386_userfaultfd")) return i386_result(i386_call(I386_USERFAULTFD, UFFD_USER_MODE_ONLY_FLAG, 0, 0));
  if (!strcmp(name, "i386_personality_no_aslr")) return i386_result(i386_call(I386_PERSONALITY, ADDR_NO_RANDOMIZE, 0, 0));
  // The x32 ABI: on a kernel without it the call would be ENOSYS, so EPERM is the filter's.
  if (!strcmp(name, "x32_mount")) return sys_result(syscall(X32_BIT | X32_MOUNT, NULL, NULL, (void *)1, 0, NULL));
  if (!strcmp(name, "x32_unshare")) return sys_result(syscall(X32_BIT | X32_UNSHARE, CLONE_NEWUSER));
  if (!strcmp(name, "x32_keyctl")) return sys_result(syscall(X32_BIT | X32_KEYCTL, 9999, 0, 0, 0, 0));
  if (!strcmp(name, "x32_bpf")) return sys_result(syscall(X32_BIT | X32_BPF, 9999, NULL, 0));
  if (!strcmp(name, "x32_userfaultfd")) return sys_result(syscall(X32_BIT | X32_USERFAULTFD, UFFD_USER_MODE_ONLY_FLAG));
  if (!strcmp(name, "x32_ptrace")) return sys_result(syscall(X32_BIT | X32_PTRACE, PTRACE_ATTACH, getppid(), 0, 0));
  return -1;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    int pipefd[2];
    if (pipe(pipefd) < 0) return 1;
    pid_t pid = fork();
    if (pid == 0) {
      close(pipefd[0]);
      long r = run(argv[i]);
      if (write(pipefd[1], &r, sizeof r) != sizeof r) _exit(1);
      _exit(0);
    }
    close(pipefd[1]);
    long r = 0;
    ssize_t n = read(pipefd[0], &r, sizeof r);
    close(pipefd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (n != sizeof r) {
      // int $0x80 on a kernel without the i386 entry faults.
      int noabi = WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV && !strncmp(argv[i], "i386_", 5);
      printf("%s=%s\n", argv[i], noabi ? "noabi" : "crashed");
    } else if (r < 0) {
      printf("%s=unknown\n", argv[i]);
    } else {
      const char *e = r ? strerrorname_np((int)r) : "ok";
      printf("%s=%s\n", argv[i], e ? e : "?");
    }
    fflush(stdout);
  }
  return 0;
}
