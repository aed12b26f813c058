// The Prometheus text exposition format (version 0.0.4, what Prometheus scrapes and `promtool check
// metrics` reads): metric families with # HELP and # TYPE, samples with labels. DPDK-free, so that what
// the daemon exports is checked without it.
//
// Samples are collected per family and written at render(), each family's lines together (the format
// requires it), families in the order they were first named. Counter families are named without the
// `_total` their samples carry (counter("x") writes x_total). A name, a label or a series that the
// format does not allow is refused, not written, and kept in errors(): a scrape never carries a line
// Prometheus would reject the whole scrape for.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

namespace nemo {

// [a-zA-Z_:][a-zA-Z0-9_:]* (the format's metric names).
bool valid_metric_name(std::string_view name);
// [a-zA-Z_][a-zA-Z0-9_]*, and not starting with "__" (reserved for Prometheus itself).
bool valid_label_name(std::string_view name);
// A label value as written between the quotes: \ " and newline escaped.
std::string escape_label_value(std::string_view v);
// HELP text: \ and newline escaped.
std::string escape_help(std::string_view v);

using MetricLabel = std::pair<std::string_view, std::string_view>;

class MetricsText {
public:
    enum class Type { counter, gauge };

    // A family's handle: add samples to it. Samples of a refused family are dropped.
    class Family {
    public:
        Family& add(std::initializer_list<MetricLabel> labels, uint64_t value) { return add(std::span(labels.begin(), labels.size()), value); }
        Family& add(std::initializer_list<MetricLabel> labels, double value) { return add(std::span(labels.begin(), labels.size()), value); }
        Family& add(std::span<const MetricLabel> labels, uint64_t value);
        Family& add(std::span<const MetricLabel> labels, double value);

    private:
        friend class MetricsText;
        Family(MetricsText* owner, std::size_t index) : owner_(owner), index_(index) {}
        Family& add_value(std::span<const MetricLabel> labels, std::variant<uint64_t, double> value);
        MetricsText* owner_;
        std::size_t index_; // SIZE_MAX: refused
    };

    // The family `name` (created at the first call; later calls must give the same type). A counter's
    // name must not end in _total (it is added), a gauge's must not either (Prometheus keeps the suffix
    // for counters).
    Family counter(std::string_view name, std::string_view help) { return family(name, help, Type::counter); }
    Family gauge(std::string_view name, std::string_view help) { return family(name, help, Type::gauge); }
    Family family(std::string_view name, std::string_view help, Type type);

    std::string render() const;
    const std::vector<std::string>& errors() const { return errors_; }

private:
    struct Fam {
        std::string name; // as the samples carry it (with _total for counters)
        std::string help;
        Type type;
        std::string samples;                       // rendered lines
        std::unordered_set<std::string> label_sets; // rendered {…}, to refuse a series twice
    };
    std::vector<Fam> families_;
    std::unordered_map<std::string, std::size_t> by_name_;
    std::vector<std::string> errors_;
};

// A value as the format writes it: integers exactly, other values shortest round-trip, NaN, +Inf, -Inf.
std::string format_metric_value(double v);

} // namespace nemo
