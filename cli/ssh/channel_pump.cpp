#include "cli/ssh/channel_pump.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace keel::ssh {

namespace {

constexpr std::size_t kChunk = 32 * 1024;
// Data already buffered inside libssh does not wake poll(): the loop looks
// at every channel at least this often.
constexpr int kPollMillis = 10;

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

}  // namespace

struct ChannelPump::Pair {
  int fd;
  ssh_channel channel;
  bool local_eof = false, remote_eof = false, write_shut = false;
  std::string to_local;  // read from the channel, not yet written to fd

  Pair(int f, ssh_channel c) : fd(f), channel(c) { set_nonblocking(fd); }
  ~Pair() {
    ::close(fd);
    if (channel) {
      ssh_channel_close(channel);
      ssh_channel_free(channel);
    }
  }
};

ChannelPump::ChannelPump(ssh_session session, int listener, ChannelOpener open)
    : session_(session), listener_(listener), open_(std::move(open)) {
  if (listener_ >= 0) set_nonblocking(listener_);
}

ChannelPump::~ChannelPump() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  pairs_.clear();  // channels go before their session
  if (listener_ >= 0) ::close(listener_);
  ssh_disconnect(session_);
  ssh_free(session_);
}

void ChannelPump::add(int fd, ssh_channel channel) { pairs_.push_back(std::make_unique<Pair>(fd, channel)); }

void ChannelPump::start() { thread_ = std::thread([this] { loop(); }); }

void ChannelPump::loop() {
  std::vector<pollfd> fds;
  while (!stopping_) {
    fds.clear();
    if (listener_ >= 0) fds.push_back({listener_, POLLIN, 0});
    fds.push_back({ssh_get_fd(session_), POLLIN, 0});
    for (const auto& p : pairs_) {
      short events = 0;
      if (!p->local_eof) events |= POLLIN;
      if (!p->to_local.empty()) events |= POLLOUT;
      fds.push_back({p->fd, events, 0});
    }
    ::poll(fds.data(), fds.size(), kPollMillis);
    if (listener_ >= 0 && (fds[0].revents & POLLIN)) accept_one();
    for (size_t i = 0; i < pairs_.size();) {
      if (pump(*pairs_[i])) {
        ++i;
      } else {
        pairs_.erase(pairs_.begin() + static_cast<long>(i));
      }
    }
    // A jump host's pump has no listener: when its one pair ends, so does it.
    if (listener_ < 0 && pairs_.empty()) return;
    if (!ssh_is_connected(session_)) return;
  }
}

void ChannelPump::accept_one() {
  int fd = ::accept(listener_, nullptr, nullptr);
  if (fd < 0) return;
  ssh_channel channel = open_ ? open_() : nullptr;
  if (!channel) {
    ::close(fd);
    return;
  }
  add(fd, channel);
}

bool ChannelPump::pump(Pair& p) {
  char buf[kChunk];
  // Local -> channel. ssh_channel_write blocks while the peer's window is
  // full, which is the back-pressure we want.
  if (!p.local_eof) {
    ssize_t n = ::read(p.fd, buf, sizeof buf);
    if (n > 0) {
      if (ssh_channel_write(p.channel, buf, static_cast<uint32_t>(n)) == SSH_ERROR) return false;
    } else if (n == 0) {
      p.local_eof = true;
      ssh_channel_send_eof(p.channel);
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return false;
    }
  }
  // Channel -> local, holding at most one chunk that the socket would not take.
  if (p.to_local.empty() && !p.remote_eof) {
    int n = ssh_channel_read_nonblocking(p.channel, buf, sizeof buf, 0);
    if (n == SSH_ERROR) return false;
    if (n > 0) p.to_local.assign(buf, static_cast<size_t>(n));
    else if (ssh_channel_is_eof(p.channel) || ssh_channel_is_closed(p.channel)) p.remote_eof = true;
  }
  if (!p.to_local.empty()) {
    ssize_t n = ::send(p.fd, p.to_local.data(), p.to_local.size(), MSG_NOSIGNAL);
    if (n > 0) p.to_local.erase(0, static_cast<size_t>(n));
    else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
  }
  if (p.remote_eof && p.to_local.empty() && !p.write_shut) {
    ::shutdown(p.fd, SHUT_WR);
    p.write_shut = true;
  }
  return !(p.local_eof && p.remote_eof && p.to_local.empty());
}

}  // namespace keel::ssh
