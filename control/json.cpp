#include "json.hpp"

#include <algorithm>

#include <cmath>
#include <cstdio>

namespace nemo::control {

void Json::separator()
{
    if (after_key_) {
        after_key_ = false;
        return;
    }
    if (!first_.back()) out_ += ',';
    first_.back() = false;
}

void Json::string(std::string_view s)
{
    out_ += '"';
    for (char c : s) {
        switch (c) {
        case '"': out_ += "\\\""; break;
        case '\\': out_ += "\\\\"; break;
        case '\n': out_ += "\\n"; break;
        case '\t': out_ += "\\t"; break;
        case '\r': out_ += "\\r"; break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out_ += buf;
            } else {
                out_ += c;
            }
        }
    }
    out_ += '"';
}

Json& Json::open(char bracket)
{
    separator();
    out_ += bracket;
    first_.push_back(true);
    return *this;
}
Json& Json::close(char bracket)
{
    out_ += bracket;
    first_.pop_back();
    return *this;
}
Json& Json::key(std::string_view k)
{
    separator();
    string(k);
    out_ += ':';
    after_key_ = true;
    return *this;
}
Json& Json::value(std::string_view s)
{
    separator();
    string(s);
    return *this;
}
Json& Json::value(uint64_t n)
{
    separator();
    out_ += std::to_string(n);
    return *this;
}
Json& Json::value(int64_t n)
{
    separator();
    out_ += std::to_string(n);
    return *this;
}
Json& Json::value(double d)
{
    separator();
    if (!std::isfinite(d)) {
        out_ += "null";
        return *this;
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", d);
    out_ += buf;
    return *this;
}
Json& Json::value(bool b)
{
    separator();
    out_ += b ? "true" : "false";
    return *this;
}

// Columns padded to the widest cell. A table written in parts passes the widths of the parts before
// (`widths`): columns only ever widen, so earlier lines stay aligned with the header.
std::string text_table(const std::vector<std::vector<std::string>>& rows, std::vector<std::size_t>* widths)
{
    std::vector<std::size_t> own;
    std::vector<std::size_t>& w = widths ? *widths : own;
    for (const auto& r : rows)
        for (std::size_t i = 0; i < r.size(); ++i) {
            if (w.size() <= i) w.push_back(0);
            w[i] = std::max(w[i], r[i].size());
        }
    std::string out;
    for (const auto& r : rows) {
        std::string line;
        for (std::size_t i = 0; i < r.size(); ++i) {
            line += r[i];
            if (i + 1 < r.size()) line += std::string(w[i] - r[i].size() + 2, ' ');
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        out += line + "\n";
    }
    return out;
}

} // namespace nemo::control
