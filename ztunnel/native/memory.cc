// Returning freed heap memory to the OS. A proxy's buffers come and go with traffic: after a bulk transfer glibc keeps
// tens of MB of freed 64 KiB read buffers in its heap (fragmented, so the automatic top-of-heap trim cannot release
// them) and RSS never comes down. malloc_trim(0) gives every free page in every arena back with MADV_DONTNEED.
#include <napi.h>
#include <malloc.h>

namespace ambit {

Napi::Value TrimMemory(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), malloc_trim(0) != 0);
}

}  // namespace ambit
