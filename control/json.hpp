// A small JSON writer for the CLI's --json output: objects, arrays, strings, numbers, booleans.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nemo::control {

class Json {
public:
    Json& begin_object() { return open('{'); }
    Json& end_object() { return close('}'); }
    Json& begin_array() { return open('['); }
    Json& end_array() { return close(']'); }
    Json& key(std::string_view k);
    Json& value(std::string_view s);
    Json& value(const char* s) { return value(std::string_view(s)); }
    Json& value(uint64_t n);
    Json& value(int64_t n);
    Json& value(int n) { return value(static_cast<int64_t>(n)); }
    Json& value(unsigned n) { return value(static_cast<uint64_t>(n)); }
    Json& value(bool b);
    Json& value(double d); // finite values, to three decimals (ratios); others as null
    template <class T>
    Json& field(std::string_view k, const T& v)
    {
        return key(k).value(v);
    }
    const std::string& str() const { return out_; }
    // Hands over what was written so far and goes on from there: a document streamed in parts.
    std::string take() { return std::exchange(out_, std::string()); }

private:
    Json& open(char bracket);
    Json& close(char bracket);
    void separator();
    void string(std::string_view s);
    std::string out_;
    std::vector<bool> first_{true}; // per open container: nothing written yet
    bool after_key_ = false;
};

// The CLI's other output: columns padded to the widest cell. A table written in parts passes the widths
// of the parts before (`widths`): columns only ever widen, so earlier lines stay aligned with the header.
std::string text_table(const std::vector<std::vector<std::string>>& rows, std::vector<std::size_t>* widths = nullptr);

} // namespace nemo::control
