{
  "targets": [
    {
      "target_name": "lab_mount",
      "sources": ["lab_mount.c", "original_dst.c", "splice_relay.c"],
      "libraries": ["-lpthread"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
