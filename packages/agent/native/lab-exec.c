// lab-exec: runs one command for the agent's exec, and ends everything it started.
//
//   lab-exec [-t] [-d DIR] [-g GRACE_MS] -- PROGRAM [ARG...]
//
// It makes itself a child subreaper (PR_SET_CHILD_SUBREAPER), so every process the command
// starts stays its descendant, also one that called setsid and double-forked: orphans reparent
// to the nearest subreaper, which is this helper. It forks the command (in its own process
// group: a `kill 0` there never reaches the helper), and talks to the agent on fd 3:
//
//   helper -> agent   "started PID\n" | "failed STAGE ERRNO\n" | "exit CODE SIGNAL\n" (-1 for the one that is not)
//   agent -> helper   "signal N\n" (to the command's main process, while it has not been reaped)
//                     "kill\n" (end every descendant: SIGTERM, then SIGKILL after the grace period)
//
// When the main process exits, what it left running is ended the same way; once no descendant
// is left (and, with -t, the terminal's output is passed on), it writes "exit" and exits. The
// command's status is never reported before everything it started is gone. EOF on fd 3 (the
// agent went away) kills every descendant at once; PR_SET_PDEATHSIG kills the helper with its
// parent. -t runs the command on a new pseudo-terminal whose bytes this helper relays between
// its own stdin/stdout and the terminal. -d changes directory first (as the user: a path
// the user cannot reach fails here, with its errno).
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define STATUS_FD 3
#define RELAY_BYTES 65536
#define KILL_REPEAT_MS 50 // how often the tree is walked again while it is being ended

static pid_t child = -1;
static int main_status = -1; // waitpid status of the main process, once reaped
static int have_children = 1;

static void say(const char *fmt, long a, long b) {
  char line[96];
  int n = snprintf(line, sizeof line, fmt, a, b);
  // The socket has room for a few lines; a failed write means the agent is gone.
  if (write(STATUS_FD, line, (size_t)n) < 0) {}
}

// The command never ran: "failed STAGE ERRNO".
static void say_failed(const char *stage, int err) {
  char line[96];
  int n = snprintf(line, sizeof line, "failed %s %d\n", stage, err);
  if (write(STATUS_FD, line, (size_t)n) < 0) {}
}

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

// Adds the children of every thread of `pid` to the list.
static void add_children(pid_t pid, pid_t **list, size_t *len, size_t *cap) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  DIR *tasks = opendir(path);
  if (!tasks) return;
  struct dirent *t;
  while ((t = readdir(tasks))) {
    if (t->d_name[0] == '.') continue;
    char file[320];
    snprintf(file, sizeof file, "/proc/%d/task/%s/children", (int)pid, t->d_name);
    FILE *f = fopen(file, "re");
    if (!f) continue;
    long c;
    while (fscanf(f, "%ld", &c) == 1) {
      if (*len == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        pid_t *n = realloc(*list, ncap * sizeof **list);
        if (!n) break;
        *list = n;
        *cap = ncap;
      }
      (*list)[(*len)++] = (pid_t)c;
    }
    fclose(f);
  }
  closedir(tasks);
}

static pid_t *termed; // descendants already sent SIGTERM: each gets it once
static size_t termed_len, termed_cap;

static int remember_termed(pid_t pid) {
  for (size_t i = 0; i < termed_len; i++) if (termed[i] == pid) return 0;
  if (termed_len == termed_cap) {
    size_t ncap = termed_cap ? termed_cap * 2 : 64;
    pid_t *n = realloc(termed, ncap * sizeof *termed);
    if (!n) return 1;
    termed = n;
    termed_cap = ncap;
  }
  termed[termed_len++] = pid;
  return 1;
}

// Sends `sig` to every descendant of this helper. The whole tree is read first: a parent killed
// during the walk would hand its children to this helper after its own list was read, and they
// would be missed until the next walk. SIGTERM goes once to each (a stopped process is continued,
// so it can act on it); the caller walks again while any is left, for what was forked meanwhile.
// Returns how many descendants there were.
static size_t signal_tree(int sig) {
  pid_t *list = NULL;
  size_t len = 0, cap = 0;
  add_children(getpid(), &list, &len, &cap);
  for (size_t i = 0; i < len; i++) add_children(list[i], &list, &len, &cap);
  for (size_t i = 0; i < len; i++) {
    if (sig != SIGTERM) kill(list[i], sig);
    else if (remember_termed(list[i])) {
      kill(list[i], SIGTERM);
      kill(list[i], SIGCONT);
    }
  }
  free(list);
  return len;
}

// Reaps every child that exited; notes the main process's status and whether any are left.
static void reap(void) {
  for (;;) {
    int st;
    pid_t p = waitpid(-1, &st, WNOHANG);
    if (p > 0) {
      if (p == child) main_status = st;
      continue;
    }
    have_children = !(p < 0 && errno == ECHILD);
    return;
  }
}

static int usage(void) {
  fprintf(stderr, "usage: lab-exec [-t] [-d DIR] [-g GRACE_MS] -- PROGRAM [ARG...]\n");
  return 2;
}

int main(int argc, char **argv) {
  int tty = 0;
  long grace_ms = 2000;
  const char *dir = NULL;
  int opt;
  while ((opt = getopt(argc, argv, "+td:g:")) != -1) {
    if (opt == 't') tty = 1;
    else if (opt == 'd') dir = optarg;
    else if (opt == 'g') grace_ms = strtol(optarg, NULL, 10);
    else return usage();
  }
  if (optind >= argc || grace_ms < 0) return usage();
  char **cmd = argv + optind;

  pid_t parent = getppid();
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent) return 1;
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
    say_failed("subreaper", errno);
    return 1;
  }
  // Like the user's shell: the OOM killer takes what the user runs before the agent.
  int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (oom >= 0) {
    if (write(oom, "1000", 4) < 0) {}
    close(oom);
  }
  signal(SIGPIPE, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd < 0) {
    say_failed("signalfd", errno);
    return 1;
  }
  if (dir && chdir(dir) < 0) {
    say_failed("chdir", errno);
    return 0;
  }

  int master = -1;
  const char *slave_name = NULL;
  if (tty) {
    master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 || !(slave_name = ptsname(master))) {
      say_failed("pty", errno);
      return 0;
    }
    struct winsize ws = { .ws_row = 24, .ws_col = 80 };
    ioctl(master, TIOCSWINSZ, &ws);
  }
  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) < 0) {
    say_failed("pipe", errno);
    return 0;
  }
  child = fork();
  if (child < 0) {
    say_failed("fork", errno);
    return 0;
  }
  if (child == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    close(STATUS_FD);
    if (tty) {
      int fd = -1;
      if (setsid() < 0 || (fd = open(slave_name, O_RDWR)) < 0 || ioctl(fd, TIOCSCTTY, 0) < 0 ||
          dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) {
        int e = errno;
        if (write(errpipe[1], &e, sizeof e) < 0) {}
        _exit(127);
      }
      if (fd > 2) close(fd);
    } else {
      setpgid(0, 0);
    }
    execvp(cmd[0], cmd);
    int e = errno;
    if (write(errpipe[1], &e, sizeof e) < 0) {}
    _exit(127);
  }
  close(errpipe[1]);
  int exec_errno = 0;
  ssize_t got;
  do got = read(errpipe[0], &exec_errno, sizeof exec_errno);
  while (got < 0 && errno == EINTR);
  close(errpipe[0]);
  if (got > 0) {
    waitpid(child, NULL, 0);
    say_failed("exec", exec_errno);
    return 0;
  }
  say("started %ld %ld\n", child, 0);

  // Without a terminal the command holds the pipes itself: let go of them, so their ends
  // close when the command's processes do.
  int relay_in = -1, relay_out = -1;
  if (tty) {
    relay_in = 0;
    relay_out = 1;
    fcntl(master, F_SETFL, O_NONBLOCK);
    fcntl(relay_out, F_SETFL, fcntl(relay_out, F_GETFL) | O_NONBLOCK);
  } else {
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
      dup2(null, 0);
      dup2(null, 1);
      dup2(null, 2);
      close(null);
    }
  }
  static char out[RELAY_BYTES], in[RELAY_BYTES];
  size_t out_len = 0, out_at = 0, in_len = 0, in_at = 0;
  int in_eof = 0, eof_sent = 0, agent_gone = 0;
  int master_hup = !tty;  // no process holds the terminal (EIO): stop polling it
  int master_done = !tty; // everything the terminal held has been read
  char cmdline[128];
  size_t cmd_len = 0;
  int ending = 0;       // the tree is being ended: SIGTERM sent
  long kill_at = -1;    // when SIGKILL is due
  long next_kill = -1;  // SIGKILL again while anything is left
  long last_walk = 0;

  for (;;) {
    reap();
    if (main_status != -1 && !ending) {
      ending = 1;
      if (have_children && signal_tree(SIGTERM) > 0) kill_at = now_ms() + grace_ms;
    }
    long now = now_ms();
    if (kill_at >= 0 && now >= kill_at) {
      kill_at = -1;
      next_kill = now;
    } else if (kill_at >= 0 && have_children && now - last_walk >= KILL_REPEAT_MS) {
      last_walk = now;
      signal_tree(SIGTERM); // what was forked since the last walk
    }
    if (next_kill >= 0 && now >= next_kill) {
      if (signal_tree(SIGKILL) == 0 && !have_children) next_kill = -1;
      else next_kill = now + KILL_REPEAT_MS;
    }
    int all_gone = main_status != -1 && !have_children;
    // Every process is gone, so the terminal's slave side is closed: the kernel hands over what
    // it still holds, then EIO (or EAGAIN, should something outside this tree hold the slave).
    if (all_gone && !master_done && out_len == out_at) {
      ssize_t r = read(master, out, sizeof out);
      if (r > 0) {
        out_len = (size_t)r;
        out_at = 0;
      } else if (r == 0 || errno != EINTR) {
        master_done = 1;
      }
    }
    if (all_gone && master_done && out_len == out_at) break;

    struct pollfd p[5];
    int n = 0, i_sig, i_status = -1, i_master = -1, i_in = -1, i_out = -1;
    p[i_sig = n++] = (struct pollfd){ sigfd, POLLIN, 0 };
    if (!agent_gone) p[i_status = n++] = (struct pollfd){ STATUS_FD, POLLIN, 0 };
    if (!master_hup && !all_gone) {
      short ev = (out_len == out_at ? POLLIN : 0) | (in_len > in_at || (in_eof && !eof_sent) ? POLLOUT : 0);
      if (ev) p[i_master = n++] = (struct pollfd){ master, ev, 0 };
      if (!in_eof && in_len == in_at) p[i_in = n++] = (struct pollfd){ relay_in, POLLIN, 0 };
    }
    if (out_len > out_at) p[i_out = n++] = (struct pollfd){ relay_out, POLLOUT, 0 };
    long wait_ms = -1;
    if (kill_at >= 0) wait_ms = kill_at - now < KILL_REPEAT_MS ? kill_at - now : KILL_REPEAT_MS;
    if (next_kill >= 0) wait_ms = next_kill - now;
    if (poll(p, (nfds_t)n, wait_ms < 0 ? -1 : (int)wait_ms) < 0 && errno != EINTR) return 1;

    if (p[i_sig].revents) {
      struct signalfd_siginfo si;
      while (read(sigfd, &si, sizeof si) > 0) {}
    }
    if (i_status >= 0 && p[i_status].revents) {
      ssize_t r = read(STATUS_FD, cmdline + cmd_len, sizeof cmdline - 1 - cmd_len);
      if (r <= 0) {
        // The agent went away: nothing is reported any more, so nothing may run on.
        agent_gone = 1;
        next_kill = now;
        if (main_status == -1) kill(child, SIGKILL);
      } else {
        cmd_len += (size_t)r;
        char *nl;
        while ((nl = memchr(cmdline, '\n', cmd_len))) {
          *nl = 0;
          int sig;
          if (sscanf(cmdline, "signal %d", &sig) == 1 && sig > 0 && sig < 65) {
            // Only the helper reaps the main process, so until then its pid cannot be reused.
            if (main_status == -1) kill(child, sig);
          } else if (strcmp(cmdline, "kill") == 0 && kill_at < 0 && next_kill < 0) {
            ending = 1;
            signal_tree(SIGTERM);
            kill_at = now_ms() + grace_ms;
          }
          size_t used = (size_t)(nl - cmdline) + 1;
          memmove(cmdline, nl + 1, cmd_len - used);
          cmd_len -= used;
        }
        if (cmd_len == sizeof cmdline - 1) cmd_len = 0; // no line is this long: drop it
      }
    }
    if (i_master >= 0 && p[i_master].revents) {
      short ev = p[i_master].revents;
      if (out_len == out_at && (ev & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t r = read(master, out, sizeof out);
        if (r > 0) {
          out_len = (size_t)r;
          out_at = 0;
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          master_hup = 1;
        }
      }
      if ((ev & POLLOUT) && in_len > in_at) {
        ssize_t w = write(master, in + in_at, in_len - in_at);
        if (w > 0) in_at += (size_t)w;
      } else if ((ev & POLLOUT) && in_eof && !eof_sent) {
        // The end of stdin, as a terminal has it: its EOF character (^D) on a line of its own.
        struct termios t;
        char eof = tcgetattr(master, &t) == 0 ? (char)t.c_cc[VEOF] : 4;
        if (write(master, &eof, 1) == 1) eof_sent = 1;
      }
    }
    if (i_in >= 0 && p[i_in].revents) {
      ssize_t r = read(relay_in, in, sizeof in);
      if (r > 0) {
        in_len = (size_t)r;
        in_at = 0;
      } else if (r == 0 || errno != EINTR) {
        in_eof = 1;
      }
    }
    if (i_out >= 0 && p[i_out].revents) {
      ssize_t w = write(relay_out, out + out_at, out_len - out_at);
      if (w > 0) out_at += (size_t)w;
      else if (w < 0 && errno != EAGAIN && errno != EINTR) out_at = out_len; // nobody reads any more: drop
    }
    if (out_at == out_len) out_at = out_len = 0;
    if (in_at == in_len) in_at = in_len = 0;
  }

  if (WIFEXITED(main_status)) say("exit %ld %ld\n", WEXITSTATUS(main_status), -1);
  else say("exit %ld %ld\n", -1, WTERMSIG(main_status));
  return 0;
}
