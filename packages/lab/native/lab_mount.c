// Host syscalls for the local and Docker drivers, without creating a process per call:
// mount(2) (bind(src, dst), makeShared(path), makePrivate(path), umount(path, detach),
// mountTmpfs(path, sizeBytes, uid, mode)) and connectNoFollow(dir, name), which reaches an
// agent's unix socket without following anything the sandbox could have put in its place.
// Failures throw an Error whose `code` is the errno name (EINVAL, EBUSY, ...).
// originalDst(fd), the egress proxy's conntrack question, lives in original_dst.c; its
// zero-copy relay for pass-through tunnels (spliceRelayStart/Stats/Close/Counts) in splice_relay.c.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "original_dst.h"
#include "splice_relay.h"

#define PATH_BYTES 4096

static void throw_errno(napi_env env, const char *op, const char *path, int err) {
  char msg[PATH_BYTES + 128];
  const char *name = strerrorname_np(err);
  snprintf(msg, sizeof msg, "%s %s: %s", op, path, strerror(err));
  napi_throw_error(env, name ? name : "EUNKNOWN", msg);
}

// Reads argument `i` as a path; returns 0 and throws when it is not a usable string.
static int get_path(napi_env env, napi_value *argv, size_t argc, size_t i, char *out) {
  napi_valuetype t;
  size_t len = 0;
  if (i >= argc || napi_typeof(env, argv[i], &t) != napi_ok || t != napi_string) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "path arguments must be strings");
    return 0;
  }
  if (napi_get_value_string_utf8(env, argv[i], out, PATH_BYTES, &len) != napi_ok || len == 0 || len >= PATH_BYTES - 1
      || out[0] != '/' || strlen(out) != len) {
    napi_throw_range_error(env, "ERR_INVALID_ARG_VALUE", "paths must be absolute, non-empty and shorter than 4095 bytes");
    return 0;
  }
  return 1;
}

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

static napi_value Bind(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char src[PATH_BYTES], dst[PATH_BYTES];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (!get_path(env, argv, argc, 0, src) || !get_path(env, argv, argc, 1, dst)) return NULL;
  // Not MS_REC: mounts below the source do not follow it into the sandbox.
  if (mount(src, dst, NULL, MS_BIND, NULL) != 0) throw_errno(env, "bind", dst, errno);
  return undefined(env);
}

static napi_value set_propagation(napi_env env, napi_callback_info info, unsigned long flag, const char *op) {
  size_t argc = 1;
  napi_value argv[1];
  char path[PATH_BYTES];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (!get_path(env, argv, argc, 0, path)) return NULL;
  if (mount(NULL, path, NULL, flag, NULL) != 0) throw_errno(env, op, path, errno);
  return undefined(env);
}

static napi_value MakeShared(napi_env env, napi_callback_info info) {
  return set_propagation(env, info, MS_SHARED, "make-shared");
}

static napi_value MakePrivate(napi_env env, napi_callback_info info) {
  return set_propagation(env, info, MS_PRIVATE, "make-private");
}

static napi_value Umount(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char path[PATH_BYTES];
  bool detach = false;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (!get_path(env, argv, argc, 0, path)) return NULL;
  if (argc > 1) napi_get_value_bool(env, argv[1], &detach);
  // UMOUNT_NOFOLLOW: never unmount whatever a symlink at `path` points to.
  if (umount2(path, (detach ? MNT_DETACH : 0) | UMOUNT_NOFOLLOW) != 0) throw_errno(env, "umount", path, errno);
  return undefined(env);
}

// Reads argument `i` as a uint32; returns 0 and throws when it is not one.
static int get_u32(napi_env env, napi_value *argv, size_t argc, size_t i, uint32_t *out) {
  napi_valuetype t;
  double d = 0;
  if (i >= argc || napi_typeof(env, argv[i], &t) != napi_ok || t != napi_number
      || napi_get_value_double(env, argv[i], &d) != napi_ok || d < 0 || d > 4294967295.0 || d != (double)(uint32_t)d) {
    napi_throw_range_error(env, "ERR_INVALID_ARG_VALUE", "numeric arguments must be integers from 0 to 2^32-1");
    return 0;
  }
  *out = (uint32_t)d;
  return 1;
}

// mountTmpfs(path, sizeBytes, uid, mode): a size-limited tmpfs owned by uid:uid (nosuid, nodev, noexec).
static napi_value MountTmpfs(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  char path[PATH_BYTES], opts[128];
  uint32_t size = 0, uid = 0, mode = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (!get_path(env, argv, argc, 0, path) || !get_u32(env, argv, argc, 1, &size) || !get_u32(env, argv, argc, 2, &uid)
      || !get_u32(env, argv, argc, 3, &mode)) return NULL;
  if (size == 0 || mode > 07777) {
    napi_throw_range_error(env, "ERR_INVALID_ARG_VALUE", "tmpfs size must be positive and mode at most 07777");
    return NULL;
  }
  snprintf(opts, sizeof opts, "size=%u,mode=%o,uid=%u,gid=%u", size, mode, uid, uid);
  if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) != 0) throw_errno(env, "mount tmpfs", path, errno);
  return undefined(env);
}

static void set_int(napi_env env, napi_value obj, const char *key, int64_t v) {
  napi_value n;
  napi_create_int64(env, v, &n);
  napi_set_named_property(env, obj, key, n);
}

// connectNoFollow(dir, name) -> { fd, pid, uid, gid }. `dir` is opened without following a
// final symlink, `name` in it likewise (O_PATH|O_NOFOLLOW) and must be a socket inode; the
// connection goes to that inode through /proc/self/fd, so no path component is resolved again
// after the checks. pid/uid/gid are the listener's credentials (SO_PEERCRED), in the caller's
// namespaces. The returned fd is non-blocking and close-on-exec.
static napi_value ConnectNoFollow(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char dir[PATH_BYTES], name[256];
  size_t len = 0;
  napi_valuetype t;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (!get_path(env, argv, argc, 0, dir)) return NULL;
  if (argc < 2 || napi_typeof(env, argv[1], &t) != napi_ok || t != napi_string
      || napi_get_value_string_utf8(env, argv[1], name, sizeof name, &len) != napi_ok || len == 0 || len >= sizeof name - 1
      || strlen(name) != len || strchr(name, '/') != NULL || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
    napi_throw_range_error(env, "ERR_INVALID_ARG_VALUE", "the socket name must be one plain path component");
    return NULL;
  }
  int dfd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) {
    throw_errno(env, "open", dir, errno);
    return NULL;
  }
  int pfd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  int err = errno;
  close(dfd);
  if (pfd < 0) {
    throw_errno(env, "open", name, err);
    return NULL;
  }
  struct stat st;
  if (fstat(pfd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
    close(pfd);
    throw_errno(env, "connect", name, ENOTSOCK);
    return NULL;
  }
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0) {
    err = errno;
    close(pfd);
    throw_errno(env, "socket", name, err);
    return NULL;
  }
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d", pfd);
  int rc = connect(s, (struct sockaddr *)&addr, sizeof addr);
  err = errno;
  close(pfd);
  if (rc != 0) {
    close(s);
    throw_errno(env, "connect", name, err);
    return NULL;
  }
  struct ucred cred;
  socklen_t clen = sizeof cred;
  if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0) {
    err = errno;
    close(s);
    throw_errno(env, "SO_PEERCRED", name, err);
    return NULL;
  }
  napi_value out;
  napi_create_object(env, &out);
  set_int(env, out, "fd", s);
  set_int(env, out, "pid", cred.pid);
  set_int(env, out, "uid", cred.uid);
  set_int(env, out, "gid", cred.gid);
  return out;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"bind", NULL, Bind, NULL, NULL, NULL, napi_enumerable, NULL},
    {"makeShared", NULL, MakeShared, NULL, NULL, NULL, napi_enumerable, NULL},
    {"makePrivate", NULL, MakePrivate, NULL, NULL, NULL, napi_enumerable, NULL},
    {"umount", NULL, Umount, NULL, NULL, NULL, napi_enumerable, NULL},
    {"mountTmpfs", NULL, MountTmpfs, NULL, NULL, NULL, napi_enumerable, NULL},
    {"connectNoFollow", NULL, ConnectNoFollow, NULL, NULL, NULL, napi_enumerable, NULL},
    {"originalDst", NULL, OriginalDst, NULL, NULL, NULL, napi_enumerable, NULL},
    {"spliceRelayStart", NULL, SpliceRelayStart, NULL, NULL, NULL, napi_enumerable, NULL},
    {"spliceRelayStats", NULL, SpliceRelayStats, NULL, NULL, NULL, napi_enumerable, NULL},
    {"spliceRelayClose", NULL, SpliceRelayClose, NULL, NULL, NULL, napi_enumerable, NULL},
    {"spliceRelayCounts", NULL, SpliceRelayCounts, NULL, NULL, NULL, napi_enumerable, NULL},
    {"tcpCongestion", NULL, TcpCongestion, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
