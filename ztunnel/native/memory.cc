// Returning freed heap memory to the OS. A proxy's buffers come and go with traffic: after a bulk transfer glibc keeps
// tens of MB of freed 64 KiB read buffers in its heap (fragmented, so the automatic top-of-heap trim cannot release
// them) and RSS never comes down. malloc_trim(0) gives every free page in every arena back with MADV_DONTNEED.
#include <napi.h>
#include <malloc.h>

namespace ambit {

Napi::Value TrimMemory(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), malloc_trim(0) != 0);
}

// Bytes glibc holds free in its arenas (mallinfo2's fordblks): what a trim could hand back at most. It walks every
// free chunk (~0.3 µs each: 21 ms for 66 000 in a synthetic heap), which in a proxy's heap of large free runs is few;
// the trim it spares pays one madvise per free run (measured under load: 35–56 calls, several ms, every time).
Napi::Value MallocFreeBytes(const Napi::CallbackInfo& info) {
  const struct mallinfo2 m = mallinfo2();
  return Napi::Number::New(info.Env(), static_cast<double>(m.fordblks));
}

// Stops free() from handing memory back on its own: only TrimMemory, on the process's own schedule, does. By default
// glibc serves blocks above 128 KiB with mmap (fresh pages, munmap on free) and shrinks the heap whenever its free top
// exceeds a threshold; a proxy under bulk traffic allocates and frees such blocks thousands of times a second (TLS
// write coalescing, 64 KiB reads), so each cycle paid page faults on fresh zero pages (bench: 11 % of a ztunnel's CPU
// under iperf3). Setting either threshold also turns off glibc's dynamic adjustment of both, as wanted here.
// Arguments: the mmap threshold and the trim threshold, in bytes. True when glibc took both.
Napi::Value KeepFreedMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    throw Napi::TypeError::New(env, "keepFreedMemory(mmapThresholdBytes, trimThresholdBytes)");
  }
  const int mmapThreshold = info[0].As<Napi::Number>().Int32Value();
  const int trimThreshold = info[1].As<Napi::Number>().Int32Value();
  const bool ok = mallopt(M_MMAP_THRESHOLD, mmapThreshold) == 1 && mallopt(M_TRIM_THRESHOLD, trimThreshold) == 1;
  return Napi::Boolean::New(env, ok);
}

}  // namespace ambit
