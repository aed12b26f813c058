// lib/metrics_text: the Prometheus text format, checked by hand and by promtool (Debian `prometheus`).
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>

#include "metrics_text.hpp"

using namespace nemo;

namespace {

struct Checked {
    int status;
    std::string output;
};

// `promtool check metrics` on `text` (its stdin): exit status and what it said.
Checked promtool(const std::string& text)
{
    char path[] = "/tmp/nemo-metrics-XXXXXX";
    const int fd = mkstemp(path);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    close(fd);
    const std::string cmd = std::string(NEMO_PROMTOOL) + " check metrics < " + path + " 2>&1";
    Checked c{-1, {}};
    if (FILE* p = popen(cmd.c_str(), "r")) {
        char buf[512];
        while (std::fgets(buf, sizeof buf, p)) c.output += buf;
        const int st = pclose(p);
        c.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    }
    unlink(path);
    return c;
}

} // namespace

TEST(MetricsText, NamesValidated)
{
    EXPECT_TRUE(valid_metric_name("nemo_ha_rx"));
    EXPECT_TRUE(valid_metric_name("a:b_c9"));
    EXPECT_TRUE(valid_metric_name("_x"));
    EXPECT_FALSE(valid_metric_name(""));
    EXPECT_FALSE(valid_metric_name("9lives"));
    EXPECT_FALSE(valid_metric_name("esp-udp"));
    EXPECT_FALSE(valid_metric_name("with space"));
    EXPECT_FALSE(valid_metric_name("caf\xc3\xa9"));
    EXPECT_TRUE(valid_label_name("worker"));
    EXPECT_TRUE(valid_label_name("_x1"));
    EXPECT_FALSE(valid_label_name("__name__")) << "reserved";
    EXPECT_FALSE(valid_label_name("a:b")) << "no colon in label names";
    EXPECT_FALSE(valid_label_name("1a"));
    EXPECT_FALSE(valid_label_name(""));
}

TEST(MetricsText, Escaping)
{
    EXPECT_EQ(escape_label_value(R"(a\b"c)" "\nd"), R"(a\\b\"c\nd)");
    EXPECT_EQ(escape_help("x \"quoted\" \\ and\nnext"), "x \"quoted\" \\\\ and\\nnext") << "HELP keeps quotes";
    EXPECT_EQ(escape_label_value("plain"), "plain");
}

TEST(MetricsText, Values)
{
    EXPECT_EQ(format_metric_value(1.0), "1");
    EXPECT_EQ(format_metric_value(0.25), "0.25");
    EXPECT_EQ(format_metric_value(-3.5), "-3.5");
    EXPECT_EQ(format_metric_value(std::nan("")), "NaN");
    EXPECT_EQ(format_metric_value(std::numeric_limits<double>::infinity()), "+Inf");
    EXPECT_EQ(format_metric_value(-std::numeric_limits<double>::infinity()), "-Inf");
    EXPECT_EQ(std::stod(format_metric_value(1796188567.2406197)), 1796188567.2406197) << "round trip";
}

TEST(MetricsText, FamiliesTogetherCountersTotalLabelsInOrder)
{
    MetricsText t;
    auto rx = t.counter("x_rx", "packets received");
    t.gauge("x_up", "1 when up").add({}, 1.0);
    rx.add({{"worker", "0"}}, uint64_t{5});
    // A later call names the same family: its samples join the first ones.
    t.counter("x_rx", "ignored: the first HELP stays").add({{"worker", "1"}}, uint64_t{18446744073709551615u});
    EXPECT_EQ(t.render(),
              "# HELP x_rx_total packets received\n"
              "# TYPE x_rx_total counter\n"
              "x_rx_total{worker=\"0\"} 5\n"
              "x_rx_total{worker=\"1\"} 18446744073709551615\n"
              "# HELP x_up 1 when up\n"
              "# TYPE x_up gauge\n"
              "x_up 1\n");
    EXPECT_TRUE(t.errors().empty());
}

TEST(MetricsText, RefusesWhatTheFormatDoesNotAllow)
{
    MetricsText t;
    t.counter("bad-name", "h").add({}, uint64_t{1});
    t.counter("x_total", "h").add({}, uint64_t{1});
    t.gauge("g_total", "h").add({}, 1.0);
    t.counter("c", "h").add({{"__name__", "x"}}, uint64_t{1});
    t.counter("c", "h").add({{"a", "1"}, {"a", "2"}}, uint64_t{1});
    t.counter("c", "h").add({{"a", "1"}}, uint64_t{1});
    t.counter("c", "h").add({{"a", "1"}}, uint64_t{2}); // the same series twice
    t.gauge("c", "h").add({}, 1.0);                    // a gauge c beside the counter c (c_total)
    t.counter("m", "h");
    t.gauge("m", "h").add({}, 1.0); // the same family as another type
    EXPECT_EQ(t.errors().size(), 8u);
    for (const auto& e : t.errors()) SCOPED_TRACE(e);
    const std::string out = t.render();
    EXPECT_EQ(out, "# HELP c_total h\n# TYPE c_total counter\nc_total{a=\"1\"} 1\n# HELP m_total h\n# TYPE m_total counter\n");
    EXPECT_EQ(promtool(out).status, 0) << promtool(out).output;
}

TEST(MetricsText, PromtoolAcceptsEscapedLabelsAndHelp)
{
    MetricsText t;
    t.counter("nemo_test_dropped", "dropped \"packets\", by reason\nsecond line \\ backslash")
        .add({{"reason", "quote\" backslash\\ newline\n end"}, {"worker", "0"}}, uint64_t{3})
        .add({{"reason", "plain"}, {"worker", "0"}}, uint64_t{0});
    t.gauge("nemo_test_age_seconds", "age").add({}, 0.125).add({{"x", ""}}, std::nan(""));
    t.gauge("nemo_test_info", "info").add({{"path", "/var/lib/nemo-ha"}, {"hoa", "2001:db8:1::100"}}, 1.0);
    const std::string out = t.render();
    ASSERT_TRUE(t.errors().empty());
    const Checked c = promtool(out);
    EXPECT_EQ(c.status, 0) << c.output << "\n" << out;
    EXPECT_NE(out.find(R"(reason="quote\" backslash\\ newline\n end")"), std::string::npos) << out;
}

TEST(MetricsText, PromtoolRejectsTheUnescapedForm)
{
    // The check above can fail: the same label written without escaping is refused by promtool.
    const std::string raw = "# HELP x_total h\n# TYPE x_total counter\nx_total{reason=\"quote\" end\"} 1\n";
    EXPECT_NE(promtool(raw).status, 0);
    const std::string newline = "# HELP x_total h\n# TYPE x_total counter\nx_total{reason=\"a\nb\"} 1\n";
    EXPECT_NE(promtool(newline).status, 0);
    // And a counter without _total is a lint problem promtool reports.
    EXPECT_NE(promtool("# HELP x h\n# TYPE x counter\nx 1\n").status, 0);
}
