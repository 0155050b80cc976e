#include "agent/httpd/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "agent/httpd/transport.h"

namespace keel::agent::httpd {

namespace {

using Clock = std::chrono::steady_clock;

// After a refusal: how long and how much the gate still reads and drops.
constexpr auto kDrainTime = std::chrono::seconds(1);
constexpr size_t kDrainBytes = 1 << 20;
// Reads are this big; the gate reads one, parses, then reads on.
constexpr size_t kReadChunk = 16 * 1024;
constexpr int kListenBacklog = 128;
constexpr size_t kAcceptsPerWake = 64;

struct Connection {
  enum class Phase { Handshake, Reading, Idle, Draining };

  std::unique_ptr<Transport> transport;
  std::string peer;
  Phase phase = Phase::Reading;
  std::string in;  // received, not yet taken by the reader
  RequestReader reader;
  Clock::time_point started;   // of the phase: accept, a request's first byte, the drain
  Clock::time_point deadline;  // of the phase
  bool want_write = false;     // waits for POLLOUT (TLS) rather than POLLIN
  bool ready = false;          // has bytes to look at without waiting for poll()
  size_t requests = 0;         // dispatched on this connection
  size_t drained = 0;

  Connection(std::unique_ptr<Transport> t, std::string p, Limits limits)
      : transport(std::move(t)), peer(std::move(p)), reader(limits) {}
};

struct Job {
  std::unique_ptr<Connection> connection;
  Request request;
  bool keep_alive = false;
};

// A queue of jobs for worker threads; close() wakes them to end.
class JobQueue {
 public:
  size_t size() {
    std::lock_guard lock(mutex_);
    return jobs_.size();
  }
  // True when no worker waits for it: the caller may start one more.
  bool push(Job job) {
    bool unattended = false;
    {
      std::lock_guard lock(mutex_);
      jobs_.push_back(std::move(job));
      unattended = jobs_.size() > waiting_;
    }
    ready_.notify_one();
    return unattended;
  }
  std::optional<Job> pop() {
    std::unique_lock lock(mutex_);
    ++waiting_;
    ready_.wait(lock, [&] { return closed_ || !jobs_.empty(); });
    --waiting_;
    if (closed_) return std::nullopt;
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    return job;
  }
  // Drops what waits (closing those connections) and ends every pop().
  void close() {
    std::deque<Job> dropped;
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
      dropped.swap(jobs_);
    }
    ready_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Job> jobs_;
  size_t waiting_ = 0;  // workers in pop()
  bool closed_ = false;
};

std::string peer_address(const sockaddr_storage& addr) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET)
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(addr).sin_addr, text, sizeof text);
  else if (addr.ss_family == AF_INET6)
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(addr).sin6_addr, text, sizeof text);
  return text;
}

int local_port(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in&>(addr).sin_port);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6&>(addr).sin6_port);
  return 0;
}

int milliseconds_until(Clock::time_point when, Clock::time_point now) {
  if (when <= now) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(when - now).count();
  return static_cast<int>(std::min<long long>(ms, 60'000));
}

void wake(int fd) {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof one);
}

}  // namespace

struct Server::Impl {
  ServerOptions options;
  ServerHooks hooks;
  std::shared_ptr<TlsContext> tls;
  int listen_fd = -1;
  int wake_fd = -1;  // the gate's: a connection came back, or stop
  int stop_fd = -1;  // readable for good once stopping: ends the workers' waits
  int port = 0;
  std::atomic<bool> stopping{false};

  std::thread gate;
  // Workers start when a request finds none waiting (up to
  // options.workers, and one express), and stay: a quiet agent keeps
  // none, a busy one as many as it needed at once. Only the gate starts
  // them, and stop() joins them after the gate.
  std::vector<std::thread> workers;
  size_t lane_workers = 0, express_workers = 0;
  JobQueue queue, express_queue;

  // The gate's connections (only the gate thread touches them).
  std::vector<std::unique_ptr<Connection>> connections;
  Clock::time_point accept_paused_until{};

  // Kept-alive connections the workers hand back to the gate.
  std::mutex returned_mutex;
  std::vector<std::unique_ptr<Connection>> returned;

  Impl(ServerOptions o, ServerHooks h) : options(std::move(o)), hooks(std::move(h)) {}

  ~Impl() {
    for (int fd : {listen_fd, wake_fd, stop_fd})
      if (fd >= 0) ::close(fd);
  }

  Status bind();
  void run_gate();
  void run_worker(JobQueue& jobs);

  // The gate's steps.
  void take_returned(Clock::time_point now);
  void accept_all(Clock::time_point now);
  void make_room(const std::string& peer);
  void progress(std::unique_ptr<Connection>& slot, Clock::time_point now);
  void read_request(std::unique_ptr<Connection>& slot, Clock::time_point now);
  bool advance(std::unique_ptr<Connection>& slot);
  void dispatch(std::unique_ptr<Connection>& slot);
  void add_worker(bool express);
  void refuse(std::unique_ptr<Connection>& slot, const Response& response);
  void drain(std::unique_ptr<Connection>& slot);
  void expire(std::unique_ptr<Connection>& slot, Clock::time_point now);
  void drop(std::unique_ptr<Connection>& slot, DropReason reason);

  // A worker's: waits until `fd` is ready for `events`, the deadline, or stop.
  bool wait_for(int fd, short events, Clock::time_point deadline);
  bool write_all(Connection& c, const std::string& bytes, Clock::time_point deadline);
};

Server::Server(ServerOptions options, ServerHooks hooks)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(hooks))) {}

Server::~Server() { stop(); }

int Server::port() const { return impl_->port; }

Status Server::start() {
  Impl& s = *impl_;
  if (!s.options.tls_cert_file.empty() || !s.options.tls_key_file.empty()) {
    auto tls = TlsContext::load(s.options.tls_cert_file, s.options.tls_key_file);
    if (!tls) return fail(tls.error());
    s.tls = std::move(*tls);
  }
  s.wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  s.stop_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s.wake_fd < 0 || s.stop_fd < 0)
    return fail(ErrorCode::Internal, fmt::format("eventfd: {}", ::strerror(errno)));
  if (auto st = s.bind(); !st) return st;
  s.gate = std::thread([&s] { s.run_gate(); });
  return {};
}

void Server::stop() {
  Impl& s = *impl_;
  if (s.stopping.exchange(true)) return;
  if (s.stop_fd >= 0) wake(s.stop_fd);
  if (s.wake_fd >= 0) wake(s.wake_fd);
  if (s.gate.joinable()) s.gate.join();
  s.queue.close();
  s.express_queue.close();
  for (auto& t : s.workers) t.join();
  s.workers.clear();
  std::lock_guard lock(s.returned_mutex);
  s.returned.clear();
}

Status Server::Impl::bind() {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string where = fmt::format("{}:{}", options.host, options.port);
  if (int rc = ::getaddrinfo(options.host.c_str(), std::to_string(options.port).c_str(), &hints, &found); rc != 0)
    return fail(ErrorCode::Unavailable, fmt::format("cannot listen on {}: {}", where, ::gai_strerror(rc)));
  std::string last_error = "no address";
  for (addrinfo* ai = found; ai && listen_fd < 0; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, kListenBacklog) == 0) {
      listen_fd = fd;
    } else {
      last_error = ::strerror(errno);
      ::close(fd);
    }
  }
  ::freeaddrinfo(found);
  if (listen_fd < 0)
    return fail(ErrorCode::Unavailable,
                fmt::format("cannot listen on {}: {} (the address is in use or not local)", where, last_error));
  port = local_port(listen_fd);
  return {};
}

// ---- the gate ---------------------------------------------------------------

void Server::Impl::run_gate() {
  std::vector<pollfd> fds;
  while (!stopping) {
    Clock::time_point now = Clock::now();
    take_returned(now);
    // Bytes already here (a pipelined request, TLS records already
    // decrypted) are looked at without waiting for poll().
    for (auto& slot : connections)
      if (slot && slot->ready) progress(slot, now);
    std::erase(connections, nullptr);

    fds.clear();
    const bool accepting = now >= accept_paused_until;
    fds.push_back({accepting ? listen_fd : -1, POLLIN, 0});
    fds.push_back({wake_fd, POLLIN, 0});
    Clock::time_point next = now + std::chrono::seconds(60);
    if (!accepting) next = std::min(next, accept_paused_until);
    for (const auto& c : connections) {
      fds.push_back({c->transport->fd(), static_cast<short>(c->want_write ? POLLOUT : POLLIN), 0});
      next = std::min(next, c->ready ? now : c->deadline);
    }
    int n = ::poll(fds.data(), fds.size(), milliseconds_until(next, now));
    if (n < 0 && errno != EINTR) break;
    now = Clock::now();
    if (fds[1].revents) {
      uint64_t count;
      [[maybe_unused]] ssize_t r = ::read(wake_fd, &count, sizeof count);
    }
    const size_t polled = fds.size() - 2;
    for (size_t i = 0; i < polled; ++i)
      if (connections[i] && fds[i + 2].revents) progress(connections[i], now);
    for (size_t i = 0; i < polled; ++i)
      if (connections[i]) expire(connections[i], now);
    std::erase(connections, nullptr);
    if (fds[0].revents) accept_all(now);
  }
  connections.clear();
}

void Server::Impl::take_returned(Clock::time_point now) {
  std::vector<std::unique_ptr<Connection>> back;
  {
    std::lock_guard lock(returned_mutex);
    back.swap(returned);
  }
  for (auto& c : back) {
    make_room(c->peer);
    c->phase = Connection::Phase::Idle;
    c->started = now;
    c->deadline = now + options.idle_timeout;
    c->want_write = false;
    c->ready = !c->in.empty() || c->transport->has_pending();
    connections.push_back(std::move(c));
  }
}

void Server::Impl::accept_all(Clock::time_point now) {
  for (size_t i = 0; i < kAcceptsPerWake; ++i) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      // Out of descriptors: listening on would spin; the gate's own
      // deadlines free some.
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
        accept_paused_until = now + std::chrono::milliseconds(100);
      return;
    }
    int on = 1;
    // Without it a TLS answer written in pieces waits for the client's
    // delayed ACK: 40 ms per request instead of under one.
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    std::string peer = peer_address(addr);
    make_room(peer);
    std::unique_ptr<Transport> transport = tls ? tls->wrap(fd) : std::make_unique<Transport>(fd);
    if (!transport) continue;
    auto c = std::make_unique<Connection>(std::move(transport), std::move(peer), options.limits);
    c->phase = tls ? Connection::Phase::Handshake : Connection::Phase::Reading;
    c->started = now;
    c->deadline = now + options.head_timeout;
    connections.push_back(std::move(c));
  }
}

// Before one more connection from `peer`: drops the oldest the gate holds
// from that peer when it is at its cap, and the oldest of all when the gate
// is full. The newcomer may be the quick legitimate client; the oldest is
// the slowest.
void Server::Impl::make_room(const std::string& peer) {
  auto oldest = [&](bool same_peer) -> std::unique_ptr<Connection>* {
    std::unique_ptr<Connection>* found = nullptr;
    size_t count = 0;
    for (auto& slot : connections) {
      if (!slot || (same_peer && slot->peer != peer)) continue;
      ++count;
      if (!found || slot->started < (*found)->started) found = &slot;
    }
    size_t cap = same_peer ? options.max_connections_per_peer : options.max_connections;
    return count >= cap ? found : nullptr;
  };
  if (auto* victim = oldest(true)) drop(*victim, DropReason::Evicted);
  if (auto* victim = oldest(false)) drop(*victim, DropReason::Evicted);
  std::erase(connections, nullptr);
}

void Server::Impl::drop(std::unique_ptr<Connection>& slot, DropReason reason) {
  const bool counted = slot->phase != Connection::Phase::Draining &&
                       !(slot->phase == Connection::Phase::Idle && !slot->reader.started());
  slot.reset();
  if (counted && hooks.dropped) hooks.dropped(reason);
}

void Server::Impl::progress(std::unique_ptr<Connection>& slot, Clock::time_point now) {
  Connection& c = *slot;
  c.ready = false;
  c.want_write = false;
  if (c.phase == Connection::Phase::Draining) return drain(slot);
  if (c.phase == Connection::Phase::Handshake) {
    switch (c.transport->handshake()) {
      case Io::Done: c.phase = Connection::Phase::Reading; break;
      case Io::WantRead: return;
      case Io::WantWrite: c.want_write = true; return;
      default: slot.reset(); return;
    }
  }
  read_request(slot, now);
}

// Reads a chunk, lets the reader take it, and again, until the socket has
// nothing more or the request is complete or refused.
void Server::Impl::read_request(std::unique_ptr<Connection>& slot, Clock::time_point now) {
  char buffer[kReadChunk];
  for (;;) {
    if (!advance(slot)) return;
    Connection& c = *slot;
    size_t n = 0;
    switch (c.transport->read(buffer, sizeof buffer, n)) {
      case Io::Done:
        if (c.phase == Connection::Phase::Idle) {
          // The next request's first byte: its head has head_timeout.
          c.phase = Connection::Phase::Reading;
          c.started = now;
          c.deadline = now + options.head_timeout;
        }
        c.in.append(buffer, n);
        break;
      case Io::WantRead: return;
      case Io::WantWrite: c.want_write = true; return;
      default: slot.reset(); return;  // the client went away
    }
  }
}

// Lets the reader take what was received. False when the connection left
// the read loop: handed to a worker, refused, or closed.
bool Server::Impl::advance(std::unique_ptr<Connection>& slot) {
  Connection& c = *slot;
  for (;;) {
    switch (c.reader.feed(c.in)) {
      case RequestReader::Event::NeedMore: return true;
      case RequestReader::Event::HeadReady: {
        c.reader.request().remote_addr = c.peer;
        c.deadline = c.started + options.request_timeout;
        if (auto refusal = hooks.admit ? hooks.admit(c.reader.request()) : std::nullopt) {
          refuse(slot, *refusal);
          return false;
        }
        if (c.reader.expects_continue() && c.in.empty()) {
          static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          size_t n = 0;
          if (c.transport->write(kContinue.data(), kContinue.size(), n) != Io::Done || n != kContinue.size()) {
            slot.reset();
            return false;
          }
        }
        break;
      }
      case RequestReader::Event::RequestReady: dispatch(slot); return false;
      case RequestReader::Event::Failed:
        c.reader.request().remote_addr = c.peer;
        refuse(slot, error_response(c.reader.refusal().status, c.reader.refusal().message));
        return false;
    }
  }
}

void Server::Impl::dispatch(std::unique_ptr<Connection>& slot) {
  Connection& c = *slot;
  const bool express = hooks.express && hooks.express(c.reader.request());
  JobQueue& jobs = express ? express_queue : queue;
  if (jobs.size() >= options.max_queued) {
    refuse(slot, error_response(503, "the agent is busy: too many requests wait for an answer; retry"));
    return;
  }
  Job job;
  job.keep_alive = c.reader.keep_alive() && ++c.requests < options.max_requests_per_connection;
  job.request = std::move(c.reader.request());
  c.reader.reset();
  job.connection = std::move(slot);
  if (jobs.push(std::move(job))) add_worker(express);
}

// A worker that cannot be started now is tried again with the next
// request; a lane with no worker at all holds its requests until then
// (the client's own timeout ends its wait).
void Server::Impl::add_worker(bool express) {
  size_t& started = express ? express_workers : lane_workers;
  if (started >= (express ? 1 : std::max<size_t>(options.workers, 1))) return;
  JobQueue& jobs = express ? express_queue : queue;
  try {
    workers.emplace_back([this, &jobs] { run_worker(jobs); });
    ++started;
  } catch (const std::system_error&) {
  }
}

// Answers with `Connection: close` (one non-blocking write: the answer is
// small and the socket's buffer empty), then drains.
void Server::Impl::refuse(std::unique_ptr<Connection>& slot, const Response& response) {
  Connection& c = *slot;
  if (hooks.log) hooks.log(c.reader.request(), response);
  const std::string bytes = serialize(response, c.reader.request().method == "HEAD", false);
  size_t n = 0;
  if (c.transport->write(bytes.data(), bytes.size(), n) != Io::Done || n != bytes.size()) {
    slot.reset();
    return;
  }
  c.transport->finish();
  c.reader.reset();
  std::string().swap(c.in);
  c.phase = Connection::Phase::Draining;
  c.started = Clock::now();
  c.deadline = c.started + kDrainTime;
  c.drained = 0;
}

// Reads and drops what the client still sends after a refusal, so that
// closing does not turn into a reset that would destroy the answer before
// the client has read it. Bounded in time and bytes.
void Server::Impl::drain(std::unique_ptr<Connection>& slot) {
  Connection& c = *slot;
  for (;;) {
    size_t n = 0;
    Io io = c.transport->discard(n);
    if (io == Io::WantRead) return;
    if (io != Io::Done || (c.drained += n) > kDrainBytes) {
      slot.reset();
      return;
    }
  }
}

void Server::Impl::expire(std::unique_ptr<Connection>& slot, Clock::time_point now) {
  Connection& c = *slot;
  if (now < c.deadline) return;
  if (c.phase == Connection::Phase::Draining || (c.phase == Connection::Phase::Idle && !c.reader.started())) {
    slot.reset();  // the end of a drain, or of an idle keep-alive: nothing was lost
    return;
  }
  if (c.phase == Connection::Phase::Reading && c.reader.started()) {
    // Best effort: a client that is still there learns why.
    const std::string bytes = serialize(error_response(408, "the request took too long to arrive"), false, false);
    size_t n = 0;
    c.transport->write(bytes.data(), bytes.size(), n);
  }
  drop(slot, DropReason::Deadline);
}

// ---- the workers ------------------------------------------------------------

void Server::Impl::run_worker(JobQueue& jobs) {
  while (auto job = jobs.pop()) {
    Response response;
    try {
      response = hooks.handle(job->request);
    } catch (const std::exception& e) {
      response = error_response(500, e.what());
    } catch (...) {
      response = error_response(500, "internal error");
    }
    const bool keep_alive = job->keep_alive && !stopping;
    if (keep_alive && job->request.minor_version == 0) response.headers.push_back({"Connection", "keep-alive"});
    const std::string bytes = serialize(response, job->request.method == "HEAD", keep_alive);
    const bool written = write_all(*job->connection, bytes, Clock::now() + options.write_timeout);
    if (hooks.log) hooks.log(job->request, response);
    if (!written || !keep_alive) {
      if (written) job->connection->transport->finish();
      continue;  // the connection closes with the job
    }
    {
      std::lock_guard lock(returned_mutex);
      if (stopping) continue;
      returned.push_back(std::move(job->connection));
    }
    wake(wake_fd);
  }
}

bool Server::Impl::wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    Clock::time_point now = Clock::now();
    if (now >= deadline || stopping) return false;
    pollfd fds[2] = {{fd, events, 0}, {stop_fd, POLLIN, 0}};
    int n = ::poll(fds, 2, milliseconds_until(deadline, now));
    if (n < 0 && errno != EINTR) return false;
    if (fds[1].revents) return false;
    if (n > 0) return true;
  }
}

bool Server::Impl::write_all(Connection& c, const std::string& bytes, Clock::time_point deadline) {
  size_t offset = 0;
  while (offset < bytes.size()) {
    size_t n = 0;
    switch (c.transport->write(bytes.data() + offset, bytes.size() - offset, n)) {
      case Io::Done: offset += n; break;
      case Io::WantRead:
        if (!wait_for(c.transport->fd(), POLLIN, deadline)) return false;
        break;
      case Io::WantWrite:
        if (!wait_for(c.transport->fd(), POLLOUT, deadline)) return false;
        break;
      default: return false;
    }
  }
  return true;
}

}  // namespace keel::agent::httpd
