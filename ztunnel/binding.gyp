{
  # Built explicitly with `npm run build:native -w @ambit/ztunnel` (node-gyp rebuild --nodedir=/usr): the headers come
  # from /usr/include/node, so nothing is downloaded. Output: build/Release/ambit_netns.node.
  "targets": [
    {
      "target_name": "ambit_netns",
      "sources": ["native/netns.cc", "native/memory.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"]
    }
  ]
}
