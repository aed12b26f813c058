// nemo-ha's log: one line per message, with an RFC 5424 severity, to one of three places:
//   stderr   the message as it is (a terminal, a file, a test's pipe)
//   journal  stderr with sd-daemon's "<N>" prefix, which journald turns into the entry's priority
//            (sd-daemon(3)); chosen by `auto` when JOURNAL_STREAM names stderr (systemd.exec(5))
//   syslog   syslog(3), facility daemon
// A newline inside a message would start a line journald or a reader takes for another message, with no
// priority of its own: control characters are escaped (\n, \r, \t, \xHH). Thread-safe: any thread may
// log (the control thread, the state store's writer, DPDK's through dpdk_log.hpp). DPDK-free.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nemo::log {

// The syslog priorities nemo-ha uses (RFC 5424 6.2.1); emerg, alert and crit are logged as err.
enum class Level : int { err = 3, warning = 4, notice = 5, info = 6, debug = 7 };
enum class Target { stderr_plain, journal, syslog };
// log.target: auto picks journal or stderr from the environment.
enum class TargetSetting { automatic, stderr_plain, journal, syslog };

std::optional<Level> parse_level(std::string_view s);
std::string_view level_name(Level l);
std::optional<TargetSetting> parse_target(std::string_view s);
std::string_view target_name(TargetSetting t);
std::string_view target_name(Target t);

// Whether JOURNAL_STREAM's value ("DEV:INODE", decimal, as systemd writes it) names the file `dev`:`ino`.
bool journal_stream_names(const char* value, uint64_t dev, uint64_t ino);
// The target a setting means for a process whose descriptor `fd` is its stderr and whose environment
// has JOURNAL_STREAM = `journal_stream` (null: unset): auto is journal when that names fd, else stderr.
Target choose_target(TargetSetting s, const char* journal_stream, int fd);

// `msg` with control characters escaped, appended to `out`.
void escape_into(std::string& out, std::string_view msg);
// The line written for `msg`: the "<N>" prefix for the journal, the newline for stderr and the journal
// (none for syslog, which frames messages itself).
std::string format_line(Target t, Level l, std::string_view msg);

// Where messages go from now on, and the least severe level that is written (`max`: debug writes all).
// `fd` is the descriptor the stderr and journal targets write (tests give their own). Before the first
// call the log writes to stderr as choose_target(automatic, getenv("JOURNAL_STREAM"), 2) says, at info.
void configure(Target t, Level max, int fd = 2);
Target target();
Level max_level();
bool enabled(Level l);

void write(Level l, std::string_view msg);
void printf(Level l, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

inline void err(std::string_view m) { write(Level::err, m); }
inline void warning(std::string_view m) { write(Level::warning, m); }
inline void notice(std::string_view m) { write(Level::notice, m); }
inline void info(std::string_view m) { write(Level::info, m); }
inline void debug(std::string_view m) { write(Level::debug, m); }

} // namespace nemo::log
