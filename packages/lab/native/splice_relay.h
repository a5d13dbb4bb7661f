// spliceRelayStart/Stats/Close/Counts and tcpCongestion: see splice_relay.c.
#ifndef LAB_SPLICE_RELAY_H
#define LAB_SPLICE_RELAY_H
#include <node_api.h>
napi_value SpliceRelayStart(napi_env env, napi_callback_info info);
napi_value SpliceRelayStats(napi_env env, napi_callback_info info);
napi_value SpliceRelayClose(napi_env env, napi_callback_info info);
napi_value SpliceRelayCounts(napi_env env, napi_callback_info info);
napi_value TcpCongestion(napi_env env, napi_callback_info info);
#endif
