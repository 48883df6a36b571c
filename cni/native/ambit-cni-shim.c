// ambit-cni: the executable a container runtime starts for every pod (CNI spec 1.0). It sits on the start-up path of
// every pod, mesh or not, and Node's own start-up costs ~30 ms, so this small C front end forwards the invocation
// (CNI_* variables and the stdin config) to the node agent, which runs the plugin logic in its long-lived process and
// answers with the plugin's stdout and exit code (POST /v1/cni/exec on the `agentSocket` of the config).
//
// When the agent cannot be asked (no agentSocket, socket absent, connection refused, an answer that is not a
// well-formed 200), the very same invocation is handed to the Node implementation next to this binary
// (`ambit-cni-node`), which needs no agent for non-ambient pods: a pod outside the mesh starts even with the agent
// down, and an ambient pod fails closed there with a CNI error the runtime retries.
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_STDIN (1 << 20)
#define MAX_RESPONSE (4 << 20)
#define EXEC_PATH "/v1/cni/exec"
// Longer than any ADD the agent can take (the plugin's own bound, timeoutMs, defaults to 10 s).
#define IO_TIMEOUT_SECONDS 60

static const char *const FORWARDED_ENV[] = {"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH", NULL};

struct buf {
  char *data;
  size_t len;
};

static int read_all(int fd, struct buf *out, size_t max) {
  size_t cap = 64 * 1024;
  out->data = malloc(cap + 1);
  out->len = 0;
  if (out->data == NULL) return -1;
  for (;;) {
    if (out->len == cap) {
      if (cap >= max) return -1;
      cap *= 2;
      char *bigger = realloc(out->data, cap + 1);
      if (bigger == NULL) return -1;
      out->data = bigger;
    }
    ssize_t n = read(fd, out->data + out->len, cap - out->len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) break;
    out->len += (size_t)n;
  }
  out->data[out->len] = '\0';
  return 0;
}

static int write_all(int fd, const char *p, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

// --- just enough JSON to find the top-level "agentSocket" string; anything unusual means "ask Node instead" ---

static size_t skip_ws(const char *s, size_t i, size_t n) {
  while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
  return i;
}

// s[i] is '"'; returns the index after the closing quote, or 0 on malformed input.
static size_t skip_string(const char *s, size_t i, size_t n) {
  for (i++; i < n; i++) {
    if (s[i] == '\\') i++;
    else if (s[i] == '"') return i + 1;
  }
  return 0;
}

// Skips one value starting at s[i]; returns the index after it, or 0 on malformed input.
static size_t skip_value(const char *s, size_t i, size_t n) {
  if (i >= n) return 0;
  if (s[i] == '"') return skip_string(s, i, n);
  if (s[i] == '{' || s[i] == '[') {
    int depth = 0;
    while (i < n) {
      if (s[i] == '"') {
        i = skip_string(s, i, n);
        if (i == 0) return 0;
        continue;
      }
      if (s[i] == '{' || s[i] == '[') depth++;
      if (s[i] == '}' || s[i] == ']') {
        depth--;
        if (depth == 0) return i + 1;
      }
      i++;
    }
    return 0;
  }
  while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\n' && s[i] != '\r' && s[i] != '\t') i++;
  return i;
}

// Copies the top-level "agentSocket" string into out; 0 when found without escapes, -1 otherwise.
static int find_agent_socket(const char *s, size_t n, char *out, size_t outsz) {
  size_t i = skip_ws(s, 0, n);
  if (i >= n || s[i] != '{') return -1;
  i = skip_ws(s, i + 1, n);
  while (i < n && s[i] == '"') {
    size_t key_end = skip_string(s, i, n);
    if (key_end == 0) return -1;
    int is_key = key_end - i == strlen("\"agentSocket\"") && strncmp(s + i, "\"agentSocket\"", key_end - i) == 0;
    i = skip_ws(s, key_end, n);
    if (i >= n || s[i] != ':') return -1;
    i = skip_ws(s, i + 1, n);
    if (is_key) {
      if (i >= n || s[i] != '"') return -1;
      size_t end = skip_string(s, i, n);
      if (end == 0) return -1;
      size_t len = end - i - 2;
      if (len == 0 || len >= outsz || memchr(s + i + 1, '\\', len) != NULL) return -1;
      memcpy(out, s + i + 1, len);
      out[len] = '\0';
      return 0;
    }
    i = skip_value(s, i, n);
    if (i == 0) return -1;
    i = skip_ws(s, i, n);
    if (i < n && s[i] == ',') i = skip_ws(s, i + 1, n);
  }
  return -1;
}

// --- the agent round trip ---

static int valid_header_value(const char *v) { return strpbrk(v, "\r\n") == NULL; }

// Decodes an HTTP/1.1 chunked body in place (the agent sends Content-Length, but any HTTP server may chunk).
static int dechunk(char *data, size_t *len) {
  size_t in = 0, out = 0;
  for (;;) {
    char *eol = strstr(data + in, "\r\n");
    if (eol == NULL) return -1;
    char *after = NULL;
    unsigned long size = strtoul(data + in, &after, 16);
    if (after == data + in) return -1;
    in = (size_t)(eol - data) + 2;
    if (size == 0) break;
    if (in + size + 2 > *len) return -1;
    memmove(data + out, data + in, size);
    out += size;
    in += size + 2;
  }
  *len = out;
  return 0;
}

// Returns 0 and sets *exit_code and *body when the agent answered a well-formed 200; -1 to fall back to Node.
static int ask_agent(const char *socket_path, const struct buf *in, int *exit_code, struct buf *body) {
  if (strlen(socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) return -1;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct timeval tv = {.tv_sec = IO_TIMEOUT_SECONDS, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strcpy(addr.sun_path, socket_path);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  char head[16384];
  int len = snprintf(head, sizeof head, "POST " EXEC_PATH " HTTP/1.1\r\nHost: ambit-agent\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n", in->len);
  for (const char *const *name = FORWARDED_ENV; *name != NULL; name++) {
    const char *v = getenv(*name);
    if (v == NULL) continue;
    if (!valid_header_value(v)) {
      close(fd);
      return -1;
    }
    // Header names are the variable names with '_' as '-': CNI-COMMAND, CNI-CONTAINERID, …
    char header[64];
    snprintf(header, sizeof header, "%s", *name);
    for (char *c = header; *c != '\0'; c++) if (*c == '_') *c = '-';
    int wrote = snprintf(head + len, sizeof head - (size_t)len, "%s: %s\r\n", header, v);
    if (wrote < 0 || (size_t)wrote >= sizeof head - (size_t)len) {
      close(fd);
      return -1;
    }
    len += wrote;
  }
  if ((size_t)len + 2 >= sizeof head) {
    close(fd);
    return -1;
  }
  memcpy(head + len, "\r\n", 2);
  len += 2;
  struct buf res = {0};
  int ok = write_all(fd, head, (size_t)len) == 0 && write_all(fd, in->data, in->len) == 0 && read_all(fd, &res, MAX_RESPONSE) == 0;
  close(fd);
  if (!ok || res.len < 12 || strncmp(res.data, "HTTP/1.1 200", 12) != 0) {
    free(res.data);
    return -1;
  }
  char *end = strstr(res.data, "\r\n\r\n");
  if (end == NULL) {
    free(res.data);
    return -1;
  }
  *end = '\0';
  *exit_code = -1;
  int chunked = 0;
  for (char *line = strstr(res.data, "\r\n"); line != NULL; line = strstr(line + 2, "\r\n")) {
    if (strncasecmp(line + 2, "cni-exit-code:", 14) == 0) *exit_code = atoi(line + 16);
    if (strncasecmp(line + 2, "transfer-encoding:", 18) == 0 && strcasestr(line + 20, "chunked") != NULL) chunked = 1;
  }
  size_t body_len = res.len - (size_t)(end + 4 - res.data);
  memmove(res.data, end + 4, body_len);
  res.data[body_len] = '\0';
  if (*exit_code < 0 || *exit_code > 255 || (chunked && dechunk(res.data, &body_len) != 0)) {
    free(res.data);
    return -1;
  }
  body->data = res.data;
  body->len = body_len;
  return 0;
}

// Runs the Node implementation with the same environment and the stdin already read (through a memfd).
static void exec_node_plugin(const struct buf *in) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 32);
  if (n > 0) {
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash != NULL) {
      // The installed plugin carries its own Node beside it (cni/src/install/cni-installer.ts: the node may have none,
      // or an older one); a build tree has none, and the fallback's shebang names the Node that built it.
      char node[PATH_MAX];
      *slash = '\0';
      int with_node = snprintf(node, sizeof node, "%s/ambit-cni.d/node", self) < (int)sizeof node && access(node, X_OK) == 0;
      *slash = '/';
      strcpy(slash + 1, "ambit-cni-node");
      int memfd = memfd_create("ambit-cni-stdin", 0);
      if (memfd >= 0 && write_all(memfd, in->data, in->len) == 0 && lseek(memfd, 0, SEEK_SET) == 0 && dup2(memfd, 0) == 0) {
        if (with_node) {
          char *const argv[] = {node, self, NULL};
          execv(node, argv);
        } else {
          char *const argv[] = {self, NULL};
          execv(self, argv);
        }
      }
    }
  }
  // Nothing else can answer: say so as the spec asks (error JSON on stdout, non-zero exit; 11 = try again later).
  printf("{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"ambit-cni: cannot reach the node agent and cannot run %s\",\"details\":\"%s\"}\n", "ambit-cni-node", strerror(errno));
  exit(1);
}

int main(void) {
  struct buf in = {0};
  if (read_all(0, &in, MAX_STDIN) != 0) {
    printf("{\"cniVersion\":\"1.0.0\",\"code\":6,\"msg\":\"ambit-cni: cannot read the network configuration on stdin\"}\n");
    return 1;
  }
  char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  int exit_code = 0;
  struct buf body = {0};
  if (find_agent_socket(in.data, in.len, socket_path, sizeof socket_path) == 0 && ask_agent(socket_path, &in, &exit_code, &body) == 0) {
    if (write_all(1, body.data, body.len) != 0) return 1;
    return exit_code;
  }
  exec_node_plugin(&in);
  return 1;
}
