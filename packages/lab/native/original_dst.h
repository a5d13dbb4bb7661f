// originalDst(fd): see original_dst.c.
#ifndef LAB_ORIGINAL_DST_H
#define LAB_ORIGINAL_DST_H
#include <node_api.h>
napi_value OriginalDst(napi_env env, napi_callback_info info);
#endif
