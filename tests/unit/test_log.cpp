#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "binding_log.hpp"
#include "log.hpp"

using namespace nemo;
using namespace nemo::control;

namespace {

// A file the logger writes to, read back whole.
class LogFile {
public:
    LogFile()
    {
        char path[] = "/tmp/nemo-test-log-XXXXXX";
        fd_ = mkstemp(path);
        path_ = path;
    }
    ~LogFile()
    {
        // The rest of the process logs to stderr again, as before the test.
        log::configure(log::Target::stderr_plain, log::Level::info, 2);
        ::close(fd_);
        ::unlink(path_.c_str());
    }
    int fd() const { return fd_; }
    std::string text() const
    {
        std::string s;
        char buf[4096];
        for (off_t off = 0;;) {
            const ssize_t n = ::pread(fd_, buf, sizeof buf, off);
            if (n <= 0) break;
            s.append(buf, static_cast<std::size_t>(n));
            off += n;
        }
        return s;
    }

private:
    int fd_ = -1;
    std::string path_;
};

std::string dev_ino(int fd)
{
    struct stat st{};
    EXPECT_EQ(fstat(fd, &st), 0);
    return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

} // namespace

TEST(Log, LinesPerTarget)
{
    EXPECT_EQ(log::format_line(log::Target::stderr_plain, log::Level::info, "nemo-ha: up"), "nemo-ha: up\n");
    EXPECT_EQ(log::format_line(log::Target::journal, log::Level::info, "nemo-ha: up"), "<6>nemo-ha: up\n");
    EXPECT_EQ(log::format_line(log::Target::journal, log::Level::err, "x"), "<3>x\n");
    EXPECT_EQ(log::format_line(log::Target::journal, log::Level::warning, "x"), "<4>x\n");
    EXPECT_EQ(log::format_line(log::Target::journal, log::Level::notice, "x"), "<5>x\n");
    EXPECT_EQ(log::format_line(log::Target::journal, log::Level::debug, "x"), "<7>x\n");
    EXPECT_EQ(log::format_line(log::Target::syslog, log::Level::err, "x"), "x"); // syslog(3) frames it
}

TEST(Log, ControlCharactersAreEscapedSoAMessageStaysOneLine)
{
    const std::string line = log::format_line(log::Target::journal, log::Level::warning,
                                              std::string("two\nlines\r\tand \x01\x1b\x7f end"));
    EXPECT_EQ(line, "<4>two\\nlines\\r\\tand \\x01\\x1b\\x7f end\n");
    EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
    // A NUL inside is written, not the end of the message.
    EXPECT_EQ(log::format_line(log::Target::stderr_plain, log::Level::info, std::string_view("a\0b", 3)), "a\\x00b\n");
    // Text beyond ASCII (a path, a name) is left as it is.
    EXPECT_EQ(log::format_line(log::Target::stderr_plain, log::Level::info, "caf\xc3\xa9 \\n"), "caf\xc3\xa9 \\n\n");
}

TEST(Log, NamesParseBack)
{
    for (auto l : {log::Level::err, log::Level::warning, log::Level::notice, log::Level::info, log::Level::debug})
        EXPECT_EQ(log::parse_level(log::level_name(l)), l);
    EXPECT_EQ(log::parse_level("warn"), log::Level::warning);
    EXPECT_FALSE(log::parse_level("crit"));
    EXPECT_FALSE(log::parse_level("Info"));
    EXPECT_FALSE(log::parse_level(""));
    for (auto t : {log::TargetSetting::automatic, log::TargetSetting::stderr_plain, log::TargetSetting::journal, log::TargetSetting::syslog})
        EXPECT_EQ(log::parse_target(log::target_name(t)), t);
    EXPECT_FALSE(log::parse_target("console"));
}

TEST(Log, JournalStreamIsDevColonInode)
{
    EXPECT_TRUE(log::journal_stream_names("12:34", 12, 34));
    EXPECT_TRUE(log::journal_stream_names("18446744073709551615:1", UINT64_MAX, 1));
    EXPECT_FALSE(log::journal_stream_names("12:34", 12, 35));
    EXPECT_FALSE(log::journal_stream_names("12:34", 13, 34));
    for (const char* bad : {"", ":", "12:", ":34", "12:34x", "12;34", "x12:34", "12:34:56", "-12:34", "99999999999999999999:1"})
        EXPECT_FALSE(log::journal_stream_names(bad, 12, 34)) << bad;
    EXPECT_FALSE(log::journal_stream_names(nullptr, 0, 0));
}

TEST(Log, AutoIsTheJournalOnlyWhenJournalStreamNamesStderr)
{
    LogFile mine, other;
    const std::string id = dev_ino(mine.fd());
    EXPECT_EQ(log::choose_target(log::TargetSetting::automatic, id.c_str(), mine.fd()), log::Target::journal);
    // Redirected since systemd set it: another file.
    EXPECT_EQ(log::choose_target(log::TargetSetting::automatic, id.c_str(), other.fd()), log::Target::stderr_plain);
    EXPECT_EQ(log::choose_target(log::TargetSetting::automatic, nullptr, mine.fd()), log::Target::stderr_plain);
    EXPECT_EQ(log::choose_target(log::TargetSetting::automatic, "garbage", mine.fd()), log::Target::stderr_plain);
    // An explicit target is what it says, whatever the environment.
    EXPECT_EQ(log::choose_target(log::TargetSetting::stderr_plain, id.c_str(), mine.fd()), log::Target::stderr_plain);
    EXPECT_EQ(log::choose_target(log::TargetSetting::journal, nullptr, mine.fd()), log::Target::journal);
    EXPECT_EQ(log::choose_target(log::TargetSetting::syslog, id.c_str(), mine.fd()), log::Target::syslog);
}

TEST(Log, LevelFilter)
{
    LogFile f;
    log::configure(log::Target::journal, log::Level::notice, f.fd());
    EXPECT_TRUE(log::enabled(log::Level::err));
    EXPECT_TRUE(log::enabled(log::Level::notice));
    EXPECT_FALSE(log::enabled(log::Level::info));
    log::err("e");
    log::warning("w");
    log::notice("n");
    log::info("i");
    log::debug("d");
    log::printf(log::Level::info, "nemo-ha: %d", 1);
    EXPECT_EQ(f.text(), "<3>e\n<4>w\n<5>n\n");
    log::configure(log::Target::stderr_plain, log::Level::debug, f.fd());
    log::debug("d");
    EXPECT_EQ(f.text(), "<3>e\n<4>w\n<5>n\nd\n");
    log::configure(log::Target::stderr_plain, log::Level::err, f.fd());
    log::warning("w");
    EXPECT_EQ(f.text(), "<3>e\n<4>w\n<5>n\nd\n");
}

TEST(Log, PrintfFormatsLongMessagesWhole)
{
    LogFile f;
    log::configure(log::Target::journal, log::Level::info, f.fd());
    const std::string big(3000, 'x');
    log::printf(log::Level::info, "nemo-ha: %s: %zu bytes, %s", "state", big.size(), big.c_str());
    EXPECT_EQ(f.text(), "<6>nemo-ha: state: 3000 bytes, " + big + "\n");
}

TEST(Log, ThreadsWriteWholeLines)
{
    LogFile f;
    log::configure(log::Target::journal, log::Level::info, f.fd());
    constexpr int kThreads = 4, kLines = 10000;
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; ++t)
        ts.emplace_back([t] {
            for (int i = 0; i < kLines; ++i) log::printf(log::Level::info, "thread %d line %d %s", t, i, std::string(100, char('a' + t)).c_str());
        });
    for (auto& t : ts) t.join();
    const std::string text = f.text();
    std::vector<int> next(kThreads, 0);
    std::size_t start = 0, lines = 0;
    for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1, ++lines) {
        // "<6>thread T line N " and 100 letters of thread T's own, nothing of another line in between.
        const std::string l = text.substr(start, nl - start);
        int t = -1, n = -1, used = 0;
        ASSERT_EQ(std::sscanf(l.c_str(), "<6>thread %d line %d %n", &t, &n, &used), 2) << l.substr(0, 200);
        ASSERT_TRUE(t >= 0 && t < kThreads) << l.substr(0, 200);
        EXPECT_EQ(l.substr(static_cast<std::size_t>(used)), std::string(100, char('a' + t))) << l.substr(0, 200);
        EXPECT_EQ(n, next[t]++); // each thread's lines in its order
    }
    EXPECT_EQ(start, text.size());
    EXPECT_EQ(lines, std::size_t{kThreads * kLines});
}

namespace {

Binding router_behind_nat()
{
    Binding b;
    b.hoa = *Ipv6Addr::parse("2001:db8:1::100");
    b.coa.method = TunnelMethod::udp;
    b.coa.v4 = *Ipv4Addr::parse("10.0.0.5");
    b.coa.v4_port = 5555;
    b.coa.peer = *Ipv4Addr::parse("198.51.100.20");
    b.coa.peer_port = 40000;
    b.coa.behind_nat = true;
    b.prefixes = {*Prefix6::parse("2001:db8:aaaa::/48"), *Prefix6::parse("2001:db8:bbbb::/48")};
    b.seq = 7;
    b.lifetime = 100;
    b.mobile_router = true;
    b.expires = 1100;
    return b;
}

} // namespace

TEST(BindingLog, EventLines)
{
    Binding b = router_behind_nat();
    EXPECT_EQ(format_binding_event(BindingEvent::created, b, nullptr, 1000),
              "nemo-ha: binding created hoa=2001:db8:1::100 coa=10.0.0.5 nat=198.51.100.20:40000 method=udp lifetime=100 seq=7 "
              "router prefixes=2001:db8:aaaa::/48,2001:db8:bbbb::/48");
    EXPECT_EQ(format_binding_event(BindingEvent::refreshed, b, nullptr, 1000).rfind("nemo-ha: binding refreshed hoa=2001:db8:1::100 coa=10.0.0.5 nat=", 0), 0u);

    CareOf before;
    before.method = TunnelMethod::ipv6;
    before.v6 = *Ipv6Addr::parse("2001:db8:77::5");
    Binding moved = b;
    moved.coa = CareOf{};
    moved.coa.method = TunnelMethod::gre;
    moved.coa.v4 = *Ipv4Addr::parse("198.51.100.10");
    moved.coa.peer = moved.coa.v4;
    moved.prefixes.clear();
    moved.mobile_router = false;
    EXPECT_EQ(format_binding_event(BindingEvent::moved, moved, &before, 1000),
              "nemo-ha: binding moved hoa=2001:db8:1::100 coa=198.51.100.10 method=gre from=2001:db8:77::5 from_method=ipv6 "
              "lifetime=100 seq=7");
    EXPECT_EQ(format_binding_event(BindingEvent::deregistered, moved, nullptr, 1040),
              "nemo-ha: binding removed hoa=2001:db8:1::100 coa=198.51.100.10 method=gre remaining=60 reason=deregistration seq=7");
    EXPECT_EQ(format_binding_event(BindingEvent::cleared, moved, nullptr, 2000),
              "nemo-ha: binding removed hoa=2001:db8:1::100 coa=198.51.100.10 method=gre remaining=0 reason=operator seq=7");
    EXPECT_EQ(format_binding_event(BindingEvent::expired, moved, nullptr, 1100),
              "nemo-ha: binding expired hoa=2001:db8:1::100 coa=198.51.100.10 method=gre seq=7");
    EXPECT_EQ(format_events_not_logged(12), "nemo-ha: 12 binding events not logged (over log.binding_events_per_second)");
}

TEST(BindingLog, RateLimitAndReport)
{
    BindingEventLimiter l;
    EXPECT_FALSE(l.report_due(100)) << "nothing held back";
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(l.take(100, 3));
    EXPECT_FALSE(l.take(100, 3));
    EXPECT_FALSE(l.take(100, 3));
    EXPECT_EQ(l.report_due(100), 2u) << "the first report at once";
    EXPECT_FALSE(l.report_due(100));
    // A new second fills the bucket again.
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(l.take(101, 3));
    EXPECT_FALSE(l.take(101, 3));
    // Then at most one report every kReportSeconds, with everything held back since the last one.
    EXPECT_FALSE(l.report_due(101));
    EXPECT_FALSE(l.take(105, 0)) << "0 logs none";
    EXPECT_FALSE(l.report_due(100 + BindingEventLimiter::kReportSeconds - 1));
    EXPECT_EQ(l.report_due(100 + BindingEventLimiter::kReportSeconds), 2u);
    EXPECT_FALSE(l.report_due(200));
}
