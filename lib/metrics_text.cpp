#include "metrics_text.hpp"

#include <charconv>
#include <cmath>

namespace nemo {

namespace {

bool name_char(char c, bool first, bool colon)
{
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
    return alpha || (!first && c >= '0' && c <= '9');
}

bool ends_with(std::string_view s, std::string_view suffix)
{
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

} // namespace

bool valid_metric_name(std::string_view name)
{
    if (name.empty()) return false;
    for (std::size_t i = 0; i < name.size(); ++i)
        if (!name_char(name[i], i == 0, true)) return false;
    return true;
}

bool valid_label_name(std::string_view name)
{
    if (name.empty() || name.substr(0, 2) == "__") return false;
    for (std::size_t i = 0; i < name.size(); ++i)
        if (!name_char(name[i], i == 0, false)) return false;
    return true;
}

std::string escape_label_value(std::string_view v)
{
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

std::string escape_help(std::string_view v)
{
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

std::string format_metric_value(double v)
{
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return ec == std::errc{} ? std::string(buf, end) : "NaN";
}

MetricsText::Family MetricsText::family(std::string_view name, std::string_view help, Type type)
{
    auto refuse = [&](const std::string& why) {
        errors_.push_back("metric '" + std::string(name) + "': " + why);
        return Family(this, SIZE_MAX);
    };
    if (!valid_metric_name(name)) return refuse("not a valid metric name");
    if (ends_with(name, "_total"))
        return refuse(type == Type::counter ? "a counter is named without _total (it is added)"
                                            : "only counters end in _total");
    const std::string full = type == Type::counter ? std::string(name) + "_total" : std::string(name);
    if (auto it = by_name_.find(full); it != by_name_.end()) {
        if (families_[it->second].type != type) return refuse("named before with another type");
        return Family(this, it->second);
    }
    // x (a gauge) and x_total (the counter x) would be one family to OpenMetrics.
    if (by_name_.count(type == Type::counter ? std::string(name) : std::string(name) + "_total"))
        return refuse("a family of that name and another type exists");
    by_name_.emplace(full, families_.size());
    families_.push_back(Fam{full, escape_help(help), type, {}, {}});
    return Family(this, families_.size() - 1);
}

MetricsText::Family& MetricsText::Family::add(std::span<const MetricLabel> labels, uint64_t value) { return add_value(labels, value); }
MetricsText::Family& MetricsText::Family::add(std::span<const MetricLabel> labels, double value) { return add_value(labels, value); }

MetricsText::Family& MetricsText::Family::add_value(std::span<const MetricLabel> labels, std::variant<uint64_t, double> value)
{
    if (index_ == SIZE_MAX) return *this;
    Fam& f = owner_->families_[index_];
    std::string set;
    for (std::size_t i = 0; i < labels.size(); ++i) {
        const auto& [k, v] = labels[i];
        bool repeated = false;
        for (std::size_t j = 0; j < i; ++j) repeated = repeated || labels[j].first == k;
        if (!valid_label_name(k) || repeated) {
            owner_->errors_.push_back("metric '" + f.name + "': label '" + std::string(k) +
                                      (repeated ? "' given twice" : "' is not a valid label name"));
            return *this;
        }
        set += set.empty() ? "{" : ",";
        set.append(k).append("=\"").append(escape_label_value(v)).append("\"");
    }
    if (!set.empty()) set += "}";
    if (!f.label_sets.insert(set).second) {
        owner_->errors_.push_back("metric '" + f.name + "': series " + (set.empty() ? "without labels" : set) + " given twice");
        return *this;
    }
    f.samples.append(f.name).append(set).append(" ");
    if (const uint64_t* u = std::get_if<uint64_t>(&value)) f.samples.append(std::to_string(*u));
    else f.samples.append(format_metric_value(std::get<double>(value)));
    f.samples += '\n';
    return *this;
}

std::string MetricsText::render() const
{
    std::string out;
    for (const Fam& f : families_) {
        out.append("# HELP ").append(f.name).append(" ").append(f.help).append("\n");
        out.append("# TYPE ").append(f.name).append(f.type == Type::counter ? " counter\n" : " gauge\n");
        out.append(f.samples);
    }
    return out;
}

} // namespace nemo
