// A zero-copy relay for the egress proxy's pass-through tunnels: the bytes between two TCP
// sockets move through a pipe per direction with splice(2), on native threads, never entering
// JavaScript. Node's copy loop (a read into a Buffer, a write out of it, on the one JS thread)
// cannot keep up with loopback on a small machine; splice moves page references instead.
//
//   spliceRelayStart(fdA, fdB, onClose) -> handle | null
//   spliceRelayStats(handle) -> { aToB, bToA, open, error? }
//   spliceRelayClose(handle)
//   spliceRelayCounts() -> { active, max, threads }
//
// start() dups both descriptors (the caller then destroys its Node sockets: the relay owns the
// connections from here) and returns null when the cap on concurrent relays is reached or the
// kernel refuses a descriptor (the caller falls back to its JS relay). onClose runs once, on the
// JS thread, when the relay has closed both connections.
//
// Threads: a few epoll workers (one per core, at most SPLICE_WORKERS_MAX), started at the first
// relay, serve every relay; a relay stays on the worker it was given. One thread per relay would
// cost a thread creation per tunnel and up to SPLICE_RELAYS_MAX stacks; the work here is a few
// syscalls per wakeup, so a handful of threads keep up with the kernel. Edge-triggered epoll
// with per-socket interest that follows the relay's state (see watch()).
//
// Bounds: nothing is buffered outside the two pipes of a relay (SPLICE_PIPE_BYTES each, best
// effort: the kernel may refuse the size and keep its default), and at most SPLICE_RELAYS_MAX
// relays run at once (fewer under a small RLIMIT_NOFILE: see SPLICE_FDS_PER_RELAY). A worker
// moves at most SPLICE_BUDGET_BYTES for one relay before it serves the others (the rest waits
// on the worker's ready list).
//
// Half-close passes through: EOF from one side, once the pipe is drained, becomes
// shutdown(other, SHUT_WR) and the other direction goes on. Both directions done, an error on
// either side, or close(): both connections are closed.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "splice_relay.h"

#define SPLICE_RELAYS_MAX 4096
// A relay holds six descriptors (two sockets, two pipes); the JS relay two. Relays may take at
// most half of RLIMIT_NOFILE, so the cap never starves the listeners of descriptors.
#define SPLICE_FDS_PER_RELAY 6
#define SPLICE_WORKERS_MAX 4
// Per direction. 256 KiB and 1 MiB moved the same bytes per second on loopback in our runs
// (64 KiB, the default, a little less, 4 MiB less: more bytes in flight go cold in the caches);
// a relay holds two of these on top of the sockets' own buffers, so the smaller bound: 4096
// relays hold at most 2 GiB in pipes.
#define SPLICE_PIPE_BYTES (256 << 10)
#define SPLICE_BUDGET_BYTES (4 << 20)
#define SPLICE_EVENTS 64

struct worker;

// One socket of a relay, as epoll's user data: which relay, which side.
struct side {
  struct relay *relay;
  int index;
};

struct relay {
  // Owned by the worker thread once started.
  int fd[2];          // socket A, socket B
  int pipe_r[2];      // direction d (0: A->B, 1: B->A): the pipe's read end ...
  int pipe_w[2];      // ... and its write end
  size_t pipe_cap[2]; // the pipe's size (what F_SETPIPE_SZ granted)
  size_t pending[2];  // bytes in direction d's pipe
  int eof[2];         // direction d's source said EOF
  int shut[2];        // direction d is done: its destination got SHUT_WR
  int pipe_stuck[2];  // direction d's last read said EAGAIN with bytes in the pipe: maybe the pipe is full
  uint32_t mask[2];   // the events epoll watches on socket i now
  int finished;       // both connections closed
  int queued;         // on the worker's ready list
  struct relay *ready_next;
  struct relay *dead_next;
  struct relay *incoming_next; // the worker's incoming list (under worker->mu)
  struct relay *cancel_next;   // the worker's cancelled list (under worker->mu)
  struct side sides[2];

  // Shared with the JS thread.
  _Atomic uint64_t bytes[2];
  atomic_int cancel;
  atomic_int open;
  atomic_int error; // errno that ended the relay, 0 for none
  atomic_int refs;  // the worker's, the JS handle's, and one while on a cancelled list

  napi_threadsafe_function on_close;
  napi_env env;
  struct worker *worker;
  struct relay *prev, *next; // the worker's list, under worker->mu
};

// Every epoll_ctl on a relay's sockets happens on its worker's thread, so no thread changes
// what epoll watches while another serves it: new and cancelled relays reach the worker on two
// lists and a wakeup of its eventfd.
struct worker {
  int epfd;
  int efd; // eventfd: something is on the incoming or cancelled list
  pthread_mutex_t mu;
  struct relay *relays;    // every relay the worker serves (under mu)
  atomic_int count;        // how many (written under mu, read by the balancing without it)
  struct relay *incoming;  // started, not yet registered with epoll (under mu)
  struct relay *cancelled; // close() asked (under mu)
};

static struct worker workers[SPLICE_WORKERS_MAX];
static atomic_int worker_count;
static int workers_error; // errno if the workers could not start
static pthread_once_t workers_once = PTHREAD_ONCE_INIT;
static atomic_int active_relays;
static int max_relays; // SPLICE_RELAYS_MAX, or less under a small RLIMIT_NOFILE (init_limits)

static void relay_unref(struct relay *r) {
  if (atomic_fetch_sub(&r->refs, 1) == 1) free(r);
}

// --- the worker thread ---------------------------------------------------------------------

static void close_quietly(int fd) {
  if (fd >= 0) close(fd);
}

// Closes both connections and the pipes, tells JS. Called on the worker thread with w->mu NOT held.
static void finish(struct worker *w, struct relay *r, int err, struct relay **dead) {
  if (r->finished) return;
  r->finished = 1;
  if (err) atomic_store(&r->error, err);
  for (int i = 0; i < 2; i++) {
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, r->fd[i], NULL);
    close_quietly(r->fd[i]);
    close_quietly(r->pipe_r[i]);
    close_quietly(r->pipe_w[i]);
    r->fd[i] = r->pipe_r[i] = r->pipe_w[i] = -1;
  }
  pthread_mutex_lock(&w->mu);
  if (r->prev) r->prev->next = r->next;
  else w->relays = r->next;
  if (r->next) r->next->prev = r->prev;
  r->prev = r->next = NULL;
  w->count -= 1;
  pthread_mutex_unlock(&w->mu);
  atomic_fetch_sub(&active_relays, 1);
  atomic_store(&r->open, 0);
  // The JS thread runs onClose; after an environment's teardown this fails quietly.
  napi_call_threadsafe_function(r->on_close, NULL, napi_tsfn_nonblocking);
  napi_release_threadsafe_function(r->on_close, napi_tsfn_release);
  // Other events of this batch may still name the relay: its memory goes after the batch.
  r->dead_next = *dead;
  *dead = r;
}

// Moves what it can in direction d. Returns 0, or an errno that ends the relay. *budget counts
// down the bytes this turn may still move.
static int pump(struct relay *r, int d, long *budget) {
  int src = r->fd[d], dst = r->fd[1 - d];
  while (!r->shut[d]) {
    int progress = 0;
    if (r->pending[d] > 0) {
      ssize_t n = splice(r->pipe_r[d], NULL, dst, NULL, r->pending[d], SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        r->pending[d] -= (size_t)n;
        atomic_fetch_add(&r->bytes[d], (uint64_t)n);
        *budget -= n;
        r->pipe_stuck[d] = 0;
        progress = 1;
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        return errno;
      }
    }
    // Read only while the pipe has room by our count. The kernel's pipe slots can fill before
    // its bytes do (partial pages), and a full pipe answers EAGAIN like an empty socket: with
    // bytes in the pipe, an EAGAIN is taken for "pipe full" and reading waits until the pipe
    // drained some (the destination's EPOLLOUT brings that).
    if (!r->eof[d] && r->pending[d] < r->pipe_cap[d] && !r->pipe_stuck[d]) {
      ssize_t n = splice(src, NULL, r->pipe_w[d], NULL, r->pipe_cap[d] - r->pending[d], SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        r->pending[d] += (size_t)n;
        progress = 1;
      } else if (n == 0) {
        r->eof[d] = 1;
        progress = 1;
      } else if (errno == EAGAIN) {
        r->pipe_stuck[d] = r->pending[d] > 0;
      } else if (errno != EINTR) {
        return errno;
      }
    }
    if (r->eof[d] && r->pending[d] == 0) {
      // ENOTCONN: the destination is gone already; its own events end the relay.
      if (shutdown(dst, SHUT_WR) != 0 && errno != ENOTCONN) return errno;
      r->shut[d] = 1;
      break;
    }
    if (!progress || *budget <= 0) break;
  }
  return 0;
}

// Watches on each socket only what the relay waits for: readable while its direction's pipe has
// room, writable while the other direction has bytes for it. Anything more wakes the worker for
// nothing (edge-triggered epoll reports every segment that arrives, and every ACK), which on a
// busy tunnel whose reader is slower costs a wakeup per packet.
static int watch(struct worker *w, struct relay *r) {
  for (int i = 0; i < 2; i++) {
    uint32_t want = EPOLLET | EPOLLRDHUP;
    if (!r->eof[i] && r->pending[i] < r->pipe_cap[i] && !r->pipe_stuck[i]) want |= EPOLLIN;
    if (r->pending[1 - i] > 0) want |= EPOLLOUT;
    if (want == r->mask[i]) continue;
    // Adding a bit reports it at once if it is ready already: no wakeup is lost.
    struct epoll_event ev = {.events = want, .data.ptr = &r->sides[i]};
    if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, r->fd[i], &ev) != 0) return errno;
    r->mask[i] = want;
  }
  return 0;
}

// Serves relay r after an event (or from the ready list); finishes it when it is done.
static void serve(struct worker *w, struct relay *r, uint32_t events, int side, struct relay **ready, struct relay **dead) {
  if (r->finished) return;
  if (atomic_load(&r->cancel)) {
    finish(w, r, 0, dead);
    return;
  }
  if (events & EPOLLERR) {
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(r->fd[side], SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr != 0) {
      finish(w, r, soerr, dead);
      return;
    }
  }
  long budget = SPLICE_BUDGET_BYTES;
  for (int d = 0; d < 2; d++) {
    int err = pump(r, d, &budget);
    if (err) {
      finish(w, r, err, dead);
      return;
    }
  }
  if (r->shut[0] && r->shut[1]) {
    finish(w, r, 0, dead);
    return;
  }
  int err = watch(w, r);
  if (err) {
    finish(w, r, err, dead);
    return;
  }
  // Edge-triggered: a relay that stopped for its budget, not for EAGAIN, gets no new event.
  if (budget <= 0 && !r->queued) {
    r->queued = 1;
    r->ready_next = *ready;
    *ready = r;
  }
}

// Watches a new relay's sockets. Edge-triggered: the first edge is the state at ADD time, so
// bytes already queued in the kernel are seen.
static void register_relay(struct worker *w, struct relay *r, struct relay **dead) {
  if (r->finished) return;
  for (int i = 0; i < 2; i++) {
    r->mask[i] = EPOLLIN | EPOLLRDHUP | EPOLLET;
    struct epoll_event ev = {.events = r->mask[i], .data.ptr = &r->sides[i]};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, r->fd[i], &ev) != 0) {
      finish(w, r, errno, dead);
      return;
    }
  }
}

static void *worker_main(void *arg) {
  struct worker *w = arg;
  struct epoll_event events[SPLICE_EVENTS];
  struct relay *ready = NULL;
  for (;;) {
    int n = epoll_wait(w->epfd, events, SPLICE_EVENTS, ready ? 0 : -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      abort(); // EBADF/EINVAL on our own epoll descriptor: memory is corrupt
    }
    struct relay *dead = NULL;
    struct relay *next_ready = NULL;
    for (int i = 0; i < n; i++) {
      if (events[i].data.ptr == NULL) { // the eventfd: new relays, cancelled ones
        uint64_t v;
        while (read(w->efd, &v, sizeof v) > 0) {
        }
        pthread_mutex_lock(&w->mu);
        struct relay *incoming = w->incoming, *cancelled = w->cancelled;
        w->incoming = w->cancelled = NULL;
        pthread_mutex_unlock(&w->mu);
        while (incoming) {
          struct relay *r = incoming;
          incoming = r->incoming_next;
          register_relay(w, r, &dead);
        }
        while (cancelled) {
          struct relay *r = cancelled;
          cancelled = r->cancel_next;
          finish(w, r, 0, &dead); // a relay that ended already stays ended
          // The list's reference. A relay finished in an earlier turn may go now: no event of
          // this batch names it (its sockets left epoll when it finished).
          relay_unref(r);
        }
        continue;
      }
      struct side *s = events[i].data.ptr;
      serve(w, s->relay, events[i].events, s->index, &next_ready, &dead);
    }
    while (ready) {
      struct relay *r = ready;
      ready = r->ready_next;
      r->queued = 0;
      serve(w, r, 0, 0, &next_ready, &dead);
    }
    ready = next_ready;
    while (dead) {
      struct relay *r = dead;
      dead = r->dead_next;
      relay_unref(r);
    }
  }
  return NULL;
}

static pthread_once_t limits_once = PTHREAD_ONCE_INIT;

static void init_limits(void) {
  struct rlimit nofile;
  max_relays = SPLICE_RELAYS_MAX;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY
      && nofile.rlim_cur / 2 / SPLICE_FDS_PER_RELAY < (rlim_t)max_relays) {
    max_relays = (int)(nofile.rlim_cur / 2 / SPLICE_FDS_PER_RELAY);
  }
}

static void start_workers(void) {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int want = cpus < 1 ? 1 : cpus > SPLICE_WORKERS_MAX ? SPLICE_WORKERS_MAX : (int)cpus;
  // The workers take no signals: Node's handlers stay on Node's threads.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  for (int i = 0; i < want; i++) {
    struct worker *w = &workers[i];
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&w->mu, NULL);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int err = w->epfd < 0 || w->efd < 0 ? errno
      : epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->efd, &ev) != 0 ? errno
      : pthread_create(&t, &attr, worker_main, w);
    pthread_attr_destroy(&attr);
    if (err) {
      close_quietly(w->epfd);
      close_quietly(w->efd);
      if (i == 0) workers_error = err;
      break;
    }
    worker_count = i + 1;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void wake(struct worker *w) {
  uint64_t one = 1;
  ssize_t n = write(w->efd, &one, sizeof one);
  (void)n; // EAGAIN: the counter is already non-zero, a wakeup is pending
}

// Puts r on its worker's cancelled list, once; the caller holds w->mu and wakes the worker.
static int cancel_locked(struct relay *r) {
  if (atomic_exchange(&r->cancel, 1)) return 0;
  atomic_fetch_add(&r->refs, 1); // the list's: r outlives a JS handle collected meanwhile
  r->cancel_next = r->worker->cancelled;
  r->worker->cancelled = r;
  return 1;
}

static void cancel(struct relay *r) {
  struct worker *w = r->worker;
  pthread_mutex_lock(&w->mu);
  int queued = cancel_locked(r);
  pthread_mutex_unlock(&w->mu);
  if (queued) wake(w);
}

// --- the JS side ---------------------------------------------------------------------------

static void call_on_close(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)context;
  (void)data;
  if (env == NULL || js_cb == NULL) return;
  napi_value undefined, exception;
  napi_get_undefined(env, &undefined);
  // A throwing onClose is an uncaught exception, as for any event handler.
  if (napi_call_function(env, undefined, js_cb, 0, NULL, NULL) == napi_pending_exception
      && napi_get_and_clear_last_exception(env, &exception) == napi_ok) {
    napi_fatal_exception(env, exception);
  }
}

static void finalize_handle(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  relay_unref(data);
}

// An environment going away (a worker thread ending) cancels the relays it started.
static void cleanup_env(napi_env env) {
  for (int i = 0; i < worker_count; i++) {
    struct worker *w = &workers[i];
    int any = 0;
    pthread_mutex_lock(&w->mu);
    for (struct relay *r = w->relays; r; r = r->next) {
      if (r->env == env) any |= cancel_locked(r);
    }
    pthread_mutex_unlock(&w->mu);
    if (any) wake(w);
  }
}

// The environments that registered cleanup_env (each once). A list, not the addon's instance
// data: that slot belongs to the whole addon.
struct env_entry {
  napi_env env;
  struct env_entry *next;
};
static pthread_mutex_t envs_mu = PTHREAD_MUTEX_INITIALIZER;
static struct env_entry *envs;

static void cleanup_env_hook(void *arg) {
  napi_env env = arg;
  cleanup_env(env);
  pthread_mutex_lock(&envs_mu);
  for (struct env_entry **e = &envs; *e; e = &(*e)->next) {
    if ((*e)->env == env) {
      struct env_entry *gone = *e;
      *e = gone->next;
      free(gone);
      break;
    }
  }
  pthread_mutex_unlock(&envs_mu);
}

// Returns 0 when the hook could not be registered (out of memory).
static int watch_env(napi_env env) {
  int ok = 1;
  pthread_mutex_lock(&envs_mu);
  struct env_entry *e = envs;
  while (e && e->env != env) e = e->next;
  if (!e) {
    e = malloc(sizeof *e);
    if (e && napi_add_env_cleanup_hook(env, cleanup_env_hook, env) == napi_ok) {
      e->env = env;
      e->next = envs;
      envs = e;
    } else {
      free(e);
      ok = 0;
    }
  }
  pthread_mutex_unlock(&envs_mu);
  return ok;
}

static napi_value throw_errno(napi_env env, const char *op, int err) {
  char msg[160];
  const char *name = strerrorname_np(err);
  snprintf(msg, sizeof msg, "%s: %s", op, strerror(err));
  napi_throw_error(env, name ? name : "EUNKNOWN", msg);
  return NULL;
}

static int get_fd(napi_env env, napi_value v, int32_t *fd) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && t == napi_number && napi_get_value_int32(env, v, fd) == napi_ok && *fd >= 0;
}

static struct relay *get_relay(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_valuetype t;
  void *data = NULL;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_external || napi_get_value_external(env, argv[0], &data) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a splice relay handle");
    return NULL;
  }
  return data;
}

static napi_value null_value(napi_env env) {
  napi_value v;
  napi_get_null(env, &v);
  return v;
}

// A descriptor of the relay's own: close-on-exec, non-blocking (the flag is the open file's, so
// Node's socket had it already).
static int own_dup(int fd) {
  int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (d < 0) return -1;
  int flags = fcntl(d, F_GETFL);
  if (flags < 0 || fcntl(d, F_SETFL, flags | O_NONBLOCK) != 0) {
    int err = errno;
    close(d);
    errno = err;
    return -1;
  }
  return d;
}

napi_value SpliceRelayStart(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t fda = -1, fdb = -1;
  napi_valuetype t;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3 || !get_fd(env, argv[0], &fda) || !get_fd(env, argv[1], &fdb) || fda == fdb
      || napi_typeof(env, argv[2], &t) != napi_ok || t != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "spliceRelayStart needs two different socket descriptors and an onClose function");
    return NULL;
  }
  for (int i = 0; i < 2; i++) {
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(i == 0 ? fda : fdb, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return throw_errno(env, "spliceRelayStart: getsockopt SO_TYPE", errno);
    if (type != SOCK_STREAM) return throw_errno(env, "spliceRelayStart: not a stream socket", ENOTSOCK);
  }
  pthread_once(&limits_once, init_limits);
  pthread_once(&workers_once, start_workers);
  if (worker_count == 0) return throw_errno(env, "spliceRelayStart: starting the relay threads", workers_error ? workers_error : EAGAIN);
  // Once per environment: its relays are cancelled when it is torn down (a worker thread ends).
  if (!watch_env(env)) return null_value(env);

  // The cap: beyond it the caller relays in JS.
  if (atomic_fetch_add(&active_relays, 1) >= max_relays) {
    atomic_fetch_sub(&active_relays, 1);
    return null_value(env);
  }
  struct relay *r = calloc(1, sizeof *r);
  if (!r) {
    atomic_fetch_sub(&active_relays, 1);
    return null_value(env);
  }
  for (int i = 0; i < 2; i++) r->fd[i] = r->pipe_r[i] = r->pipe_w[i] = -1;
  int ok = (r->fd[0] = own_dup(fda)) >= 0 && (r->fd[1] = own_dup(fdb)) >= 0;
  for (int d = 0; ok && d < 2; d++) {
    int p[2];
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
      ok = 0;
      break;
    }
    r->pipe_r[d] = p[0];
    r->pipe_w[d] = p[1];
    fcntl(p[1], F_SETPIPE_SZ, SPLICE_PIPE_BYTES); // best effort: the default (64 KiB) works too
    int size = fcntl(p[1], F_GETPIPE_SZ);
    r->pipe_cap[d] = size > 0 ? (size_t)size : 65536;
  }
  napi_value resource_name;
  napi_create_string_utf8(env, "spliceRelay", NAPI_AUTO_LENGTH, &resource_name);
  if (!ok || napi_create_threadsafe_function(env, argv[2], NULL, resource_name, 1, 1, NULL, NULL, NULL, call_on_close, &r->on_close) != napi_ok) {
    // EMFILE/ENFILE and the like: no relay; the caller still owns its sockets.
    for (int i = 0; i < 2; i++) {
      close_quietly(r->fd[i]);
      close_quietly(r->pipe_r[i]);
      close_quietly(r->pipe_w[i]);
    }
    free(r);
    atomic_fetch_sub(&active_relays, 1);
    return null_value(env);
  }

  r->env = env;
  atomic_store(&r->open, 1);
  atomic_store(&r->refs, 2);
  for (int i = 0; i < 2; i++) {
    r->sides[i].relay = r;
    r->sides[i].index = i;
  }

  // The least busy worker.
  struct worker *w = &workers[0];
  for (int i = 1; i < worker_count; i++) {
    if (workers[i].count < w->count) w = &workers[i];
  }
  r->worker = w;
  pthread_mutex_lock(&w->mu);
  r->next = w->relays;
  if (w->relays) w->relays->prev = r;
  w->relays = r;
  w->count += 1;
  r->incoming_next = w->incoming;
  w->incoming = r;
  pthread_mutex_unlock(&w->mu);
  wake(w);

  napi_value handle;
  if (napi_create_external(env, r, finalize_handle, NULL, &handle) != napi_ok) {
    cancel(r);
    relay_unref(r);
    napi_throw_error(env, NULL, "spliceRelayStart: could not create the handle");
    return NULL;
  }
  return handle;
}

napi_value SpliceRelayStats(napi_env env, napi_callback_info info) {
  struct relay *r = get_relay(env, info);
  if (!r) return NULL;
  napi_value out, v;
  napi_create_object(env, &out);
  napi_create_double(env, (double)atomic_load(&r->bytes[0]), &v);
  napi_set_named_property(env, out, "aToB", v);
  napi_create_double(env, (double)atomic_load(&r->bytes[1]), &v);
  napi_set_named_property(env, out, "bToA", v);
  napi_get_boolean(env, atomic_load(&r->open) != 0, &v);
  napi_set_named_property(env, out, "open", v);
  int err = atomic_load(&r->error);
  if (err) {
    const char *name = strerrorname_np(err);
    napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, out, "error", v);
  }
  return out;
}

napi_value SpliceRelayClose(napi_env env, napi_callback_info info) {
  struct relay *r = get_relay(env, info);
  if (!r) return NULL;
  // The worker owns the descriptors (and may have closed them, their numbers reused): it does
  // the closing. This only asks, and wakes it.
  if (atomic_load(&r->open)) cancel(r);
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

napi_value SpliceRelayCounts(napi_env env, napi_callback_info info) {
  (void)info;
  pthread_once(&limits_once, init_limits);
  napi_value out, v;
  napi_create_object(env, &out);
  napi_create_int32(env, atomic_load(&active_relays), &v);
  napi_set_named_property(env, out, "active", v);
  napi_create_int32(env, max_relays, &v);
  napi_set_named_property(env, out, "max", v);
  napi_create_int32(env, worker_count, &v);
  napi_set_named_property(env, out, "threads", v);
  return out;
}

// The kernel's TCP_CA_NAME_MAX (linux/tcp.h, not in glibc's headers).
#define CA_NAME_MAX 16

// tcpCongestion(fd, name) -> the algorithm the socket has afterwards (a string), or null when the
// descriptor is not a TCP socket. Sets TCP_CONGESTION when `name` is given and the kernel allows
// it (net.ipv4.tcp_allowed_congestion_control); a refusal leaves the socket as it was. The proxy
// uses it for the sandbox's side of a tunnel, a hop inside this host (see SANDBOX_HOP_CONGESTION in egress/tunnel.ts).
napi_value TcpCongestion(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || !get_fd(env, argv[0], &fd)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "tcpCongestion needs a socket descriptor");
    return NULL;
  }
  char want[CA_NAME_MAX] = {0};
  napi_valuetype t = napi_undefined;
  if (argc >= 2) napi_typeof(env, argv[1], &t);
  if (t == napi_string) {
    size_t len = 0;
    napi_get_value_string_utf8(env, argv[1], want, sizeof want, &len);
    if (len > 0) setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, want, (socklen_t)len);
  }
  char have[CA_NAME_MAX] = {0};
  socklen_t have_len = sizeof have - 1;
  if (getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, have, &have_len) != 0) return null_value(env);
  napi_value out;
  napi_create_string_utf8(env, have, strnlen(have, sizeof have), &out);
  return out;
}
