// The seccomp filter every sandbox runs under, written once and emitted twice:
//   seccomp-gen <out.bpf> <out.json>
// out.bpf is the classic BPF program for `bwrap --seccomp FD` (local driver); out.json is the
// same rules as a Docker seccomp profile (Docker driver, `SecurityOpt: seccomp=<json>`).
//
// Default allow; deny what a dev shell (bash, node, git, compilers, python, ps, top) never
// needs and an escape often does. The sandbox user already has no capabilities and no new
// privileges, so most of these fail anyway; the filter removes the kernel code behind them from
// reach, which is where the escapes of the last years lived (user namespaces, the mount API,
// bpf, userfaultfd, io_uring, keyrings, perf). Every rule applies to the x86_64, i386 (int 0x80)
// and x32 (__X32_SYSCALL_BIT) ABIs: a filter for one ABI alone is bypassed through another.
//
// Docker's built-in default profile is an allow-list that applies only when a container names
// no profile; naming this one replaces it. So this list carries on its own every denial of that
// default that matters to a container without capabilities (namespaces, mounts, keyrings,
// modules, kexec, bpf, perf, cross-process memory, userfaultfd, the clock, personality flags,
// ...), and adds ptrace, io_uring, modify_ldt and AF_VSOCK sockets. Unlike an allow-list it lets
// syscalls newer than this file through to the kernel's own checks (docs/docker.md).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#define AF_VSOCK_FAMILY 40

struct rule {
  const char *name;
  int err;
  // One comparison on argument 0, or none (0 == unconditional).
  int has_arg;
  enum scmp_compare op;
  uint64_t a; // the datum, or the mask for SCMP_CMP_MASKED_EQ
  uint64_t b; // the masked value for SCMP_CMP_MASKED_EQ
};

// Denied outright with EPERM, grouped by reason.
static const char *const DENIED[] = {
  // Namespaces: a new user namespace hands its creator every capability inside it, and with
  // them the mount, netfilter and filesystem code that is the usual way out.
  "unshare", "setns",
  // Mounts, old and new API, and changing the root.
  "mount", "umount", "umount2", "pivot_root", "chroot",
  "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
  // File handles bypass path permission checks (the "shocker" escape).
  "open_by_handle_at", "name_to_handle_at",
  // Keyrings are per uid, not per container: Docker sandboxes all run as one host uid and would
  // share its user keyring.
  "keyctl", "add_key", "request_key",
  // Large kernel attack surfaces a shell does not need, and legacy calls nothing uses any more.
  "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
  "fanotify_init", "modify_ldt", "vm86", "vm86old", "uselib", "lookup_dcookie", "nfsservctl", "ustat", "sysfs",
  // Another process's memory or files: tracing, cross-process reads and writes, fd theft,
  // kernel object comparison, page migration of another pid.
  "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "pidfd_getfd", "kcmp",
  "move_pages", "migrate_pages",
  // The machine itself: modules, kexec, reboot, swap, accounting, quotas, I/O ports, the
  // terminal of others, the clock (adjtimex and clock_adjtime stay: their mode sits behind a
  // pointer seccomp cannot read, reading the clock state is legitimate, and writing it needs
  // CAP_SYS_TIME in the initial namespace, which a sandbox never has), the kernel log, and the
  // host and domain name.
  "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot",
  "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "iopl", "ioperm", "vhangup",
  "clock_settime", "clock_settime64", "settimeofday", "stime", "syslog", "sethostname", "setdomainname",
};

// Namespace flags refused in clone(2). CLONE_NEWTIME (0x80) is absent on purpose: in clone(2)
// that bit is part of the exit-signal byte, so a time namespace can only come from unshare(2)
// (denied) or clone3(2) (ENOSYS).
static const uint64_t CLONE_NS_FLAGS[] = {
  CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
};

// personality(2) values allowed: PER_LINUX (0), PER_LINUX32 (0x8), UNAME26 (0x20000), both, and
// the query 0xffffffff. Every other flag (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, MMAP_PAGE_ZERO,
// ...) weakens the process's own hardening. The kernel reads the argument as 32 bits.
#define PERSONA_ALLOWED_BITS 0x00020008u
#define PERSONA_TOP_BIT 0x80000000u

#define MAX_RULES 256
static struct rule rules[MAX_RULES];
static int nrules;

static void add(struct rule r) {
  if (nrules == MAX_RULES) {
    fprintf(stderr, "seccomp-gen: more than %d rules\n", MAX_RULES);
    exit(1);
  }
  rules[nrules++] = r;
}

static void masked(const char *name, int err, uint64_t mask, uint64_t value) {
  add((struct rule){ name, err, 1, SCMP_CMP_MASKED_EQ, mask, value });
}

static void build_rules(void) {
  for (size_t i = 0; i < sizeof DENIED / sizeof *DENIED; i++) add((struct rule){ DENIED[i], EPERM, 0, 0, 0, 0 });
  // clone3 passes its flags in a struct seccomp cannot read; ENOSYS makes libc fall back to
  // clone(2), whose flags it can.
  add((struct rule){ "clone3", ENOSYS, 0, 0, 0, 0 });
  // Arguments in one rule are ANDed, rules are ORed: one rule per flag denies "any of them".
  for (size_t i = 0; i < sizeof CLONE_NS_FLAGS / sizeof *CLONE_NS_FLAGS; i++) masked("clone", EPERM, CLONE_NS_FLAGS[i], CLONE_NS_FLAGS[i]);
  // vsock reaches the hypervisor host and is not confined by the network namespace.
  add((struct rule){ "socket", EPERM, 1, SCMP_CMP_EQ, AF_VSOCK_FAMILY, 0 });
  // libseccomp allows one comparison per argument, so "not one of the allowed values" is
  // spelled bit by bit: without the top bit, deny any flag outside the allowed ones; with it,
  // deny any value but the query (all bits set).
  for (int bit = 0; bit < 31; bit++) {
    uint32_t f = 1u << bit;
    if (!(f & PERSONA_ALLOWED_BITS)) masked("personality", EPERM, f | PERSONA_TOP_BIT, f);
    masked("personality", EPERM, f | PERSONA_TOP_BIT, PERSONA_TOP_BIT);
  }
}

static int write_bpf(const char *path) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) return -ENOMEM;
  int rc = 0;
  // The native arch (x86_64) is in the context already; the other two ABIs of an x86_64 kernel.
  if ((rc = seccomp_arch_add(ctx, SCMP_ARCH_X86)) < 0 || (rc = seccomp_arch_add(ctx, SCMP_ARCH_X32)) < 0) goto out;
  // A binary tree over syscall numbers instead of a linear scan.
  if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)) < 0) goto out;
  for (int i = 0; i < nrules; i++) {
    const struct rule *r = &rules[i];
    int nr = seccomp_syscall_resolve_name(r->name);
    if (nr == __NR_SCMP_ERROR) {
      fprintf(stderr, "seccomp-gen: libseccomp does not know the syscall %s\n", r->name);
      rc = -EINVAL;
      goto out;
    }
    rc = r->has_arg ? seccomp_rule_add(ctx, SCMP_ACT_ERRNO(r->err), nr, 1, SCMP_CMP(0, r->op, r->a, r->b))
                    : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(r->err), nr, 0);
    if (rc < 0) {
      fprintf(stderr, "seccomp-gen: rule for %s: %s\n", r->name, strerror(-rc));
      goto out;
    }
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    rc = -errno;
    goto out;
  }
  rc = seccomp_export_bpf(ctx, fd);
  if (close(fd) < 0 && rc == 0) rc = -errno;
out:
  seccomp_release(ctx);
  return rc;
}

static const char *op_name(enum scmp_compare op) {
  switch (op) {
  case SCMP_CMP_EQ: return "SCMP_CMP_EQ";
  case SCMP_CMP_MASKED_EQ: return "SCMP_CMP_MASKED_EQ";
  default: return NULL;
  }
}

// Docker's profile format: `value` is the datum, or the mask for SCMP_CMP_MASKED_EQ with the
// masked value in `valueTwo` (libseccomp's argument order).
static int write_json(const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) return -errno;
  fprintf(f, "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n");
  fprintf(f, "  \"archMap\": [{ \"architecture\": \"SCMP_ARCH_X86_64\", \"subArchitectures\": [\"SCMP_ARCH_X86\", \"SCMP_ARCH_X32\"] }],\n");
  fprintf(f, "  \"syscalls\": [");
  const char *sep = "\n";
  for (int i = 0; i < nrules;) {
    const struct rule *r = &rules[i];
    fprintf(f, "%s    { \"names\": [", sep);
    sep = ",\n";
    if (!r->has_arg) {
      // Consecutive unconditional rules with one errno share an entry.
      int j = i;
      for (; j < nrules && !rules[j].has_arg && rules[j].err == r->err; j++) fprintf(f, "%s\"%s\"", j == i ? "" : ", ", rules[j].name);
      fprintf(f, "], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": %d }", r->err);
      i = j;
      continue;
    }
    const char *op = op_name(r->op);
    if (!op) {
      fclose(f);
      return -EINVAL;
    }
    fprintf(f, "\"%s\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": %d, \"args\": [{ \"index\": 0, \"value\": %" PRIu64 ", \"valueTwo\": %" PRIu64 ", \"op\": \"%s\" }] }",
            r->name, r->err, r->a, r->b, op);
    i++;
  }
  fprintf(f, "\n  ]\n}\n");
  return fclose(f) == 0 ? 0 : -errno;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s <out.bpf> <out.json>\n", argv[0]);
    return 2;
  }
  build_rules();
  int rc = write_bpf(argv[1]);
  if (rc < 0) {
    fprintf(stderr, "seccomp-gen: %s: %s\n", argv[1], strerror(-rc));
    return 1;
  }
  rc = write_json(argv[2]);
  if (rc < 0) {
    fprintf(stderr, "seccomp-gen: %s: %s\n", argv[2], strerror(-rc));
    return 1;
  }
  return 0;
}
