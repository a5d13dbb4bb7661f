// originalDst(fd) for the egress proxy: the address a TCP connection was sent to before the
// host's nftables DNAT/redirect rewrote it (a sandbox's transparent HTTP/HTTPS connection),
// read from conntrack with getsockopt(SO_ORIGINAL_DST). Linux only.
//
// Returns { address, port }, or undefined when conntrack knows no such connection (ENOENT: not
// tracked) or cannot answer for this socket (ENOPROTOOPT: not TCP, or no conntrack for the
// family). Other failures throw an Error whose `code` is the errno name.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "original_dst.h"

// <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>; both 80. Defined here so
// the addon builds without the kernel's netfilter headers.
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

static napi_value throw_sockopt(napi_env env, const char *op, int err) {
  char msg[160];
  const char *name = strerrorname_np(err);
  snprintf(msg, sizeof msg, "%s: %s", op, strerror(err));
  napi_throw_error(env, name ? name : "EUNKNOWN", msg);
  return NULL;
}

static napi_value result(napi_env env, const char *address, unsigned port) {
  napi_value out, a, p;
  napi_create_object(env, &out);
  napi_create_string_utf8(env, address, NAPI_AUTO_LENGTH, &a);
  napi_create_uint32(env, port, &p);
  napi_set_named_property(env, out, "address", a);
  napi_set_named_property(env, out, "port", p);
  return out;
}

static napi_value none(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

napi_value OriginalDst(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  napi_valuetype t;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_number
      || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_range_error(env, "ERR_INVALID_ARG_VALUE", "originalDst needs a socket's file descriptor (an integer >= 0)");
    return NULL;
  }
  // The socket's own family decides the question: an IPv6 socket carrying IPv4 (a v4-mapped
  // peer on a dual-stack listener) has an IPv4 conntrack entry, which SOL_IP answers for it.
  struct sockaddr_storage local;
  socklen_t llen = sizeof local;
  if (getsockname(fd, (struct sockaddr *)&local, &llen) != 0) return throw_sockopt(env, "getsockname", errno);
  int v4 = local.ss_family == AF_INET
    || (local.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)&local)->sin6_addr));
  if (!v4 && local.ss_family != AF_INET6) return throw_sockopt(env, "originalDst", EAFNOSUPPORT);

  char text[INET6_ADDRSTRLEN];
  if (v4) {
    struct sockaddr_in dst;
    socklen_t len = sizeof dst;
    memset(&dst, 0, sizeof dst);
    if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst, &len) != 0) {
      if (errno == ENOENT || errno == ENOPROTOOPT) return none(env);
      return throw_sockopt(env, "getsockopt SO_ORIGINAL_DST", errno);
    }
    inet_ntop(AF_INET, &dst.sin_addr, text, sizeof text);
    return result(env, text, ntohs(dst.sin_port));
  }
  struct sockaddr_in6 dst6;
  socklen_t len6 = sizeof dst6;
  memset(&dst6, 0, sizeof dst6);
  if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &dst6, &len6) != 0) {
    if (errno == ENOENT || errno == ENOPROTOOPT) return none(env);
    return throw_sockopt(env, "getsockopt IP6T_SO_ORIGINAL_DST", errno);
  }
  inet_ntop(AF_INET6, &dst6.sin6_addr, text, sizeof text);
  return result(env, text, ntohs(dst6.sin6_port));
}
