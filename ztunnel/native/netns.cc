// Ambit ztunnel native addon: sockets created inside another network namespace (DESIGN.md §4).
//
// Node cannot setns(2). This addon can, on the calling thread only (setns is per thread, so libuv's pool and other
// Node threads never change namespace). A socket's namespace is fixed when socket(2) runs; everything after that
// (bind, listen, connect, accept, routing) happens in that namespace whichever thread calls it. So the only work done
// inside the target namespace is socket + setsockopt + bind + listen, synchronously, and then the thread goes home.
//
// Invariant: between the two setns calls nothing touches JavaScript and nothing can throw. Options are read and
// validated first, the syscalls run in plain C with errno captured, and errors are turned into JS exceptions only
// after the thread is back in its own namespace. If going back fails the process aborts: a thread left in a pod's
// namespace would silently send later traffic from the pod.
//
// Errors are JS Errors shaped like Node's system errors: `code` is the errno name (ENOENT, EADDRINUSE, …), `errno`
// the negated errno value (Node's convention), `syscall` the failing call.

#include <napi.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

// <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h> do not compile cleanly as C++ next to glibc's
// headers; the values are ABI and fixed.
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

namespace {

constexpr const char* kThreadNetns = "/proc/thread-self/ns/net";

// A failed syscall, recorded while JS may not be touched.
struct SysFailure {
  int err = 0;
  const char* syscall = "";
};

struct Endpoint {
  bool set = false;
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string text;  // for error messages, "address:port"
};

struct SocketSpec {
  int netnsFd = -1;  // -1: the calling thread's current namespace
  int family = AF_INET;
  bool hasMark = false;
  uint32_t mark = 0;
  bool transparent = false;  // IP_TRANSPARENT / IPV6_TRANSPARENT
  bool reusePort = false;
  bool listen = false;
  int backlog = 511;
  Endpoint local;  // bind address (listen address for listeners)
};

Napi::Error SystemError(Napi::Env env, int err, const char* syscall, const std::string& detail = "") {
  const char* name = strerrorname_np(err);
  if (name == nullptr) name = "UNKNOWN";
  std::string message = std::string(syscall) + " " + name + " (" + std::strerror(err) + ")";
  if (!detail.empty()) message += " " + detail;
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, name));
  error.Set("errno", Napi::Number::New(env, -err));
  error.Set("syscall", Napi::String::New(env, syscall));
  return error;
}

Napi::TypeError InvalidArg(Napi::Env env, const std::string& message) {
  Napi::TypeError error = Napi::TypeError::New(env, message);
  error.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_VALUE"));
  return error;
}

int ToFd(const Napi::Value& value, const char* what) {
  if (!value.IsNumber()) throw InvalidArg(value.Env(), std::string(what) + " must be a file descriptor (number)");
  double d = value.As<Napi::Number>().DoubleValue();
  if (d < 0 || d > INT32_MAX || d != static_cast<double>(static_cast<int>(d))) {
    throw InvalidArg(value.Env(), std::string(what) + " must be a non-negative integer");
  }
  return static_cast<int>(d);
}

uint32_t ToUint32(const Napi::Value& value, const char* what, double max = 4294967295.0) {
  if (!value.IsNumber()) throw InvalidArg(value.Env(), std::string(what) + " must be a number");
  double d = value.As<Napi::Number>().DoubleValue();
  if (d < 0 || d > max || d != static_cast<double>(static_cast<uint32_t>(d))) {
    throw InvalidArg(value.Env(), std::string(what) + " must be an integer in [0, " + std::to_string(static_cast<uint64_t>(max)) + "]");
  }
  return static_cast<uint32_t>(d);
}

bool ToBool(const Napi::Object& obj, const char* key) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined()) return false;
  if (!v.IsBoolean()) throw InvalidArg(obj.Env(), std::string(key) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

Endpoint ToEndpoint(const Napi::Value& value, int family, const char* what) {
  Napi::Env env = value.Env();
  if (!value.IsObject()) throw InvalidArg(env, std::string(what) + " must be an object { address, port }");
  Napi::Object obj = value.As<Napi::Object>();
  Napi::Value address = obj.Get("address");
  if (!address.IsString()) throw InvalidArg(env, std::string(what) + ".address must be a string");
  std::string text = address.As<Napi::String>().Utf8Value();
  uint16_t port = static_cast<uint16_t>(ToUint32(obj.Get("port"), "port", 65535));
  Endpoint ep;
  ep.set = true;
  if (family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ep.addr);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    if (inet_pton(AF_INET, text.c_str(), &sin->sin_addr) != 1) {
      throw InvalidArg(env, std::string(what) + ".address is not an IPv4 address: " + text);
    }
    ep.len = sizeof(sockaddr_in);
    ep.text = text + ":" + std::to_string(port);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ep.addr);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    if (inet_pton(AF_INET6, text.c_str(), &sin6->sin6_addr) != 1) {
      throw InvalidArg(env, std::string(what) + ".address is not an IPv6 address: " + text);
    }
    ep.len = sizeof(sockaddr_in6);
    ep.text = "[" + text + "]:" + std::to_string(port);
  }
  return ep;
}

SocketSpec ParseSpec(const Napi::Value& value) {
  Napi::Env env = value.Env();
  if (!value.IsObject()) throw InvalidArg(env, "createSocket options must be an object");
  Napi::Object opts = value.As<Napi::Object>();
  SocketSpec spec;

  Napi::Value netns = opts.Get("netnsFd");
  if (!netns.IsUndefined()) spec.netnsFd = ToFd(netns, "netnsFd");

  Napi::Value family = opts.Get("family");
  uint32_t fam = family.IsNumber() ? ToUint32(family, "family", 6) : 0;
  if (fam == 4) {
    spec.family = AF_INET;
  } else if (fam == 6) {
    spec.family = AF_INET6;
  } else {
    throw InvalidArg(env, "family must be 4 or 6");
  }

  Napi::Value mark = opts.Get("mark");
  if (!mark.IsUndefined()) {
    spec.hasMark = true;
    spec.mark = ToUint32(mark, "mark");
  }
  spec.transparent = ToBool(opts, "transparent");

  Napi::Value listen = opts.Get("listen");
  Napi::Value bind = opts.Get("bind");
  if (!listen.IsUndefined() && !bind.IsUndefined()) throw InvalidArg(env, "pass either listen or bind, not both");
  if (!listen.IsUndefined()) {
    spec.listen = true;
    spec.local = ToEndpoint(listen, spec.family, "listen");
    Napi::Object l = listen.As<Napi::Object>();
    Napi::Value backlog = l.Get("backlog");
    if (!backlog.IsUndefined()) spec.backlog = static_cast<int>(ToUint32(backlog, "listen.backlog", 65535));
    spec.reusePort = ToBool(l, "reusePort");
    if (ToBool(l, "transparent")) spec.transparent = true;
  } else if (!bind.IsUndefined()) {
    spec.local = ToEndpoint(bind, spec.family, "bind");
  }
  return spec;
}

int SetIntOpt(int fd, int level, int name, int value, SysFailure* failure) {
  if (setsockopt(fd, level, name, &value, sizeof(value)) != 0) {
    failure->err = errno;
    failure->syscall = "setsockopt";
    return -1;
  }
  return 0;
}

// socket + options + bind + listen in whatever namespace the thread is in. Returns the fd, or -1 with `failure` set
// (and nothing left open). Touches no JS.
int OpenConfiguredSocket(const SocketSpec& spec, SysFailure* failure) {
  int fd = socket(spec.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    failure->err = errno;
    failure->syscall = "socket";
    return -1;
  }
  bool ok = true;
  if (ok && spec.hasMark) ok = SetIntOpt(fd, SOL_SOCKET, SO_MARK, static_cast<int>(spec.mark), failure) == 0;
  if (ok && spec.transparent) {
    ok = spec.family == AF_INET ? SetIntOpt(fd, SOL_IP, IP_TRANSPARENT, 1, failure) == 0
                                : SetIntOpt(fd, SOL_IPV6, IPV6_TRANSPARENT, 1, failure) == 0;
  }
  // Listeners restart often (pod re-enrolment, ztunnel restart) and must not wait out TIME_WAIT.
  if (ok && spec.listen) ok = SetIntOpt(fd, SOL_SOCKET, SO_REUSEADDR, 1, failure) == 0;
  if (ok && spec.reusePort) ok = SetIntOpt(fd, SOL_SOCKET, SO_REUSEPORT, 1, failure) == 0;
  if (ok && spec.local.set) {
    if (bind(fd, reinterpret_cast<const sockaddr*>(&spec.local.addr), spec.local.len) != 0) {
      failure->err = errno;
      failure->syscall = "bind";
      ok = false;
    }
  }
  if (ok && spec.listen && ::listen(fd, spec.backlog) != 0) {
    failure->err = errno;
    failure->syscall = "listen";
    ok = false;
  }
  if (!ok) {
    close(fd);
    return -1;
  }
  return fd;
}

// The only place the thread leaves its namespace.
int CreateSocketIn(const SocketSpec& spec, SysFailure* failure) {
  if (spec.netnsFd < 0) return OpenConfiguredSocket(spec, failure);

  int home = open(kThreadNetns, O_RDONLY | O_CLOEXEC);
  if (home < 0) {
    failure->err = errno;
    failure->syscall = "open";
    return -1;
  }
  if (setns(spec.netnsFd, CLONE_NEWNET) != 0) {
    failure->err = errno;
    failure->syscall = "setns";
    close(home);
    return -1;
  }
  int fd = OpenConfiguredSocket(spec, failure);
  if (setns(home, CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "ambit ztunnel: cannot return to the original network namespace (%s); aborting\n",
                 std::strerror(errno));
    std::abort();
  }
  close(home);
  return fd;
}

Napi::Value OpenNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw InvalidArg(env, "openNetns(path): path must be a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw SystemError(env, errno, "open", path);
  return Napi::Number::New(env, fd);
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ToFd(info[0], "fd");
  // Linux always releases the fd, even when close reports EINTR; retrying could close someone else's fd.
  if (close(fd) != 0 && errno != EINTR) throw SystemError(env, errno, "close");
  return env.Undefined();
}

Napi::Value CreateSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SocketSpec spec = ParseSpec(info[0]);
  SysFailure failure;
  int fd = CreateSocketIn(spec, &failure);
  if (fd < 0) {
    bool addressed = std::strcmp(failure.syscall, "bind") == 0 || std::strcmp(failure.syscall, "listen") == 0;
    throw SystemError(env, failure.err, failure.syscall, addressed ? spec.local.text : "");
  }
  return Napi::Number::New(env, fd);
}

Napi::Value SetMark(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ToFd(info[0], "fd");
  uint32_t mark = ToUint32(info[1], "mark");
  int value = static_cast<int>(mark);
  if (setsockopt(fd, SOL_SOCKET, SO_MARK, &value, sizeof(value)) != 0) throw SystemError(env, errno, "setsockopt");
  return env.Undefined();
}

Napi::Value GetMark(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ToFd(info[0], "fd");
  uint32_t value = 0;
  socklen_t len = sizeof(value);
  if (getsockopt(fd, SOL_SOCKET, SO_MARK, &value, &len) != 0) throw SystemError(env, errno, "getsockopt");
  return Napi::Number::New(env, value);
}

Napi::Object AddressObject(Napi::Env env, const sockaddr_storage& ss) {
  char text[INET6_ADDRSTRLEN] = {0};
  Napi::Object out = Napi::Object::New(env);
  if (ss.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text));
    out.Set("address", Napi::String::New(env, text));
    out.Set("port", Napi::Number::New(env, ntohs(sin->sin_port)));
    out.Set("family", Napi::Number::New(env, 4));
  } else {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text));
    out.Set("address", Napi::String::New(env, text));
    out.Set("port", Napi::Number::New(env, ntohs(sin6->sin6_port)));
    out.Set("family", Napi::Number::New(env, 6));
  }
  return out;
}

// The destination the client asked for before the pod's nftables redirect rewrote it (conntrack's original tuple).
Napi::Value GetOriginalDst(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ToFd(info[0], "fd");
  sockaddr_storage local{};
  socklen_t len = sizeof(local);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) throw SystemError(env, errno, "getsockname");

  sockaddr_storage orig{};
  if (local.ss_family == AF_INET6) {
    len = sizeof(sockaddr_in6);
    if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &orig, &len) == 0) return AddressObject(env, orig);
    int err = errno;
    // An IPv4 client accepted on a dual-stack socket is tracked by IPv4 conntrack; ask it, reporting the first error
    // if that fails too.
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&local);
    if (!IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) throw SystemError(env, err, "getsockopt");
    len = sizeof(sockaddr_in);
    orig = sockaddr_storage{};
    if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &orig, &len) != 0) throw SystemError(env, err, "getsockopt");
    return AddressObject(env, orig);
  }
  if (local.ss_family != AF_INET) throw SystemError(env, EAFNOSUPPORT, "getsockopt");
  len = sizeof(sockaddr_in);
  if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &orig, &len) != 0) throw SystemError(env, errno, "getsockopt");
  return AddressObject(env, orig);
}

}  // namespace

namespace ambit {
// memory.cc
Napi::Value TrimMemory(const Napi::CallbackInfo& info);
Napi::Value KeepFreedMemory(const Napi::CallbackInfo& info);
Napi::Value MallocFreeBytes(const Napi::CallbackInfo& info);
}  // namespace ambit

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("openNetns", Napi::Function::New(env, OpenNetns, "openNetns"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("createSocket", Napi::Function::New(env, CreateSocket, "createSocket"));
  exports.Set("setMark", Napi::Function::New(env, SetMark, "setMark"));
  exports.Set("getMark", Napi::Function::New(env, GetMark, "getMark"));
  exports.Set("getOriginalDst", Napi::Function::New(env, GetOriginalDst, "getOriginalDst"));
  exports.Set("trimMemory", Napi::Function::New(env, ambit::TrimMemory, "trimMemory"));
  exports.Set("keepFreedMemory", Napi::Function::New(env, ambit::KeepFreedMemory, "keepFreedMemory"));
  exports.Set("mallocFreeBytes", Napi::Function::New(env, ambit::MallocFreeBytes, "mallocFreeBytes"));
  return exports;
}

}  // namespace

NODE_API_MODULE(ambit_netns, Init)
