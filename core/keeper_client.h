// The store's side of the keeper (keeper_protocol.h): finding and starting
// it, the connection a process keeps to it, and the messages it is sent.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>

#include "fd_registry.h"
#include "keeper_protocol.h"

namespace lambshm::memfd_store {

using fd_registry::InFlight;

// The connection a process keeps (keeper_client.cpp).
struct Channel {
  int fd;
  dev_t dir_dev;  // the backing directory whose keeper it reaches
  ino_t dir_ino;
  dev_t dev;  // the socket's inode
  ino_t ino;
  bool watching;  // the keeper sees unlinks itself: no kDrop to send
  pid_t keeper;   // its pid
  uint64_t net_ns, pid_ns;  // its namespaces: the ones we connected from
  uid_t euid;               // ours when we connected: a process that changed it connects anew
};

// The inode of /proc/self/ns/WHICH ("net", "pid"), or 0.
uint64_t namespace_id(const char* which);

// The current connection, or nullptr; whether `c` still reaches the keeper
// of the directory `dirst` for this user.
Channel* current_channel();
bool channel_good(const Channel* c, const struct stat& dirst);

// The process's connection to the keeper of `dir`, made (and the keeper
// started, when `start`) if there is none, or `dead` is the current one:
// nullptr (and -errno in *err) when none can be had.
Channel* channel(int dir, const struct stat& dirst, bool start, Channel* dead, int* err);

keeper::Request make_request(keeper::Op op, const char* name);

// Sends a one-way message on the process's connection, reconnecting (and
// starting a keeper, when `start`) if its keeper is gone: 0 or -errno, and
// the pid of the keeper it went to in *keeper.
int send_one_way(int dir, const struct stat& dirst, bool start, const keeper::Request& req,
                 const int* fds, int nfds, pid_t* keeper = nullptr);

// A request on a connection of its own: the Reply's error, with the one
// descriptor it carries in *fd (or -1).  `named`: ask the keeper of that pid.
int ask_keeper(int dir, const struct stat& dirst, const keeper::Request& req, InFlight* fd,
               pid_t named = 0);

// A connection of its own to the keeper of `dir` (started when `start`),
// greeted: 0 with it in *out and the keeper's pid in *peer, or -errno.
int connect_to_keeper(int dir, const struct stat& dirst, bool start, InFlight* out, pid_t* peer);

}  // namespace lambshm::memfd_store
