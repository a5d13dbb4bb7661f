// mount(2) for the local driver, without creating a process on the claim path.
// Exposes bind(src, dst), makeShared(path), makePrivate(path), umount(path, detach).
// Failures throw an Error whose `code` is the errno name (EINVAL, EBUSY, ...).
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

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

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"bind", NULL, Bind, NULL, NULL, NULL, napi_enumerable, NULL},
    {"makeShared", NULL, MakeShared, NULL, NULL, NULL, napi_enumerable, NULL},
    {"makePrivate", NULL, MakePrivate, NULL, NULL, NULL, napi_enumerable, NULL},
    {"umount", NULL, Umount, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
