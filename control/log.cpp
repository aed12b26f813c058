#include "log.hpp"

#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace nemo::log {

namespace {

struct State {
    std::mutex mu;
    Target target = Target::stderr_plain;
    int fd = 2;
    bool syslog_open = false;
    std::atomic<int> max{static_cast<int>(Level::info)};
};

State& state()
{
    // Set up on first use from the environment, so that messages before the configuration is read (its
    // own errors) already carry their priority under systemd.
    static State* s = [] {
        auto* st = new State; // never destroyed: threads and atexit handlers may still log
        st->target = choose_target(TargetSetting::automatic, std::getenv("JOURNAL_STREAM"), 2);
        return st;
    }();
    return *s;
}

void write_all(int fd, const std::string& line)
{
    std::size_t off = 0;
    while (off < line.size()) {
        const ssize_t n = ::write(fd, line.data() + off, line.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return; // nowhere left to say it
        off += static_cast<std::size_t>(n);
    }
}

} // namespace

std::optional<Level> parse_level(std::string_view s)
{
    if (s == "err" || s == "error") return Level::err;
    if (s == "warning" || s == "warn") return Level::warning;
    if (s == "notice") return Level::notice;
    if (s == "info") return Level::info;
    if (s == "debug") return Level::debug;
    return std::nullopt;
}

std::string_view level_name(Level l)
{
    switch (l) {
    case Level::err: return "err";
    case Level::warning: return "warning";
    case Level::notice: return "notice";
    case Level::info: return "info";
    case Level::debug: return "debug";
    }
    return "info";
}

std::optional<TargetSetting> parse_target(std::string_view s)
{
    if (s == "auto") return TargetSetting::automatic;
    if (s == "stderr") return TargetSetting::stderr_plain;
    if (s == "journal") return TargetSetting::journal;
    if (s == "syslog") return TargetSetting::syslog;
    return std::nullopt;
}

std::string_view target_name(TargetSetting t)
{
    switch (t) {
    case TargetSetting::automatic: return "auto";
    case TargetSetting::stderr_plain: return "stderr";
    case TargetSetting::journal: return "journal";
    case TargetSetting::syslog: return "syslog";
    }
    return "auto";
}

std::string_view target_name(Target t)
{
    switch (t) {
    case Target::stderr_plain: return "stderr";
    case Target::journal: return "journal";
    case Target::syslog: return "syslog";
    }
    return "stderr";
}

bool journal_stream_names(const char* value, uint64_t dev, uint64_t ino)
{
    if (!value) return false;
    const std::string_view v(value);
    const auto colon = v.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == v.size()) return false;
    uint64_t d = 0, i = 0;
    const char* end = v.data() + v.size();
    auto [p1, e1] = std::from_chars(v.data(), v.data() + colon, d);
    auto [p2, e2] = std::from_chars(v.data() + colon + 1, end, i);
    if (e1 != std::errc{} || p1 != v.data() + colon || e2 != std::errc{} || p2 != end) return false;
    return d == dev && i == ino;
}

Target choose_target(TargetSetting s, const char* journal_stream, int fd)
{
    switch (s) {
    case TargetSetting::stderr_plain: return Target::stderr_plain;
    case TargetSetting::journal: return Target::journal;
    case TargetSetting::syslog: return Target::syslog;
    case TargetSetting::automatic: break;
    }
    // systemd.exec(5): a service compares JOURNAL_STREAM with its stderr, which may have been redirected
    // since systemd set it (then it is not the journal's stream any more).
    struct stat st{};
    if (journal_stream && fstat(fd, &st) == 0 &&
        journal_stream_names(journal_stream, static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)))
        return Target::journal;
    return Target::stderr_plain;
}

void escape_into(std::string& out, std::string_view msg)
{
    static const char hex[] = "0123456789abcdef";
    for (const char ch : msg) {
        const auto c = static_cast<unsigned char>(ch);
        if (c >= 0x20 && c != 0x7f) {
            out += ch;
            continue;
        }
        switch (c) {
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xf];
        }
    }
}

std::string format_line(Target t, Level l, std::string_view msg)
{
    std::string line;
    line.reserve(msg.size() + 5);
    if (t == Target::journal) {
        line += '<';
        line += static_cast<char>('0' + static_cast<int>(l));
        line += '>';
    }
    escape_into(line, msg);
    if (t != Target::syslog) line += '\n';
    return line;
}

void configure(Target t, Level max, int fd)
{
    State& s = state();
    std::lock_guard lock(s.mu);
    s.target = t;
    s.fd = fd;
    s.max.store(static_cast<int>(max), std::memory_order_relaxed);
    if (t == Target::syslog) {
        // Again after EAL, which opens syslog under its own ident: the messages are nemo-ha's.
        openlog("nemo-ha", LOG_PID | LOG_NDELAY, LOG_DAEMON);
        s.syslog_open = true;
    }
}

Target target()
{
    State& s = state();
    std::lock_guard lock(s.mu);
    return s.target;
}

Level max_level() { return static_cast<Level>(state().max.load(std::memory_order_relaxed)); }

bool enabled(Level l) { return static_cast<int>(l) <= state().max.load(std::memory_order_relaxed); }

void write(Level l, std::string_view msg)
{
    if (!enabled(l)) return;
    State& s = state();
    std::lock_guard lock(s.mu); // one line at a time, whole, whichever thread logs
    const std::string line = format_line(s.target, l, msg);
    if (s.target == Target::syslog) {
        if (!s.syslog_open) {
            openlog("nemo-ha", LOG_PID | LOG_NDELAY, LOG_DAEMON);
            s.syslog_open = true;
        }
        syslog(LOG_DAEMON | static_cast<int>(l), "%s", line.c_str());
        return;
    }
    write_all(s.fd, line);
}

void printf(Level l, const char* fmt, ...)
{
    if (!enabled(l)) return;
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    va_list again;
    va_copy(again, ap);
    const int n = std::vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(again);
        return;
    }
    if (static_cast<std::size_t>(n) < sizeof small) {
        va_end(again);
        write(l, std::string_view(small, static_cast<std::size_t>(n)));
        return;
    }
    std::string big(static_cast<std::size_t>(n) + 1, '\0');
    std::vsnprintf(big.data(), big.size(), fmt, again);
    va_end(again);
    big.resize(static_cast<std::size_t>(n));
    write(l, big);
}

} // namespace nemo::log
