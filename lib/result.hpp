// The outcome of parsing or building a wire format: a value, or an error that names what was wrong.
#pragma once

#include <cstddef>
#include <string>
#include <utility>

namespace nemo::wire {

enum class Errc : unsigned char {
    truncated,        // the buffer ends before the structure does
    bad_length,       // a length field is inconsistent with the structure or the buffer
    bad_checksum,     // a checksum does not verify
    bad_version,      // an IP version or protocol version field is wrong
    unknown_type,     // a type field names something this parser does not know
    bad_value,        // a field holds a value the format forbids
    unsupported,      // valid on the wire, but something we do not process (e.g. a fragment)
    buffer_too_small, // a builder's output buffer cannot hold the result
};

const char* errc_name(Errc e);

// `what` names the structure or field at fault; it always points to a string literal.
struct Error {
    Errc code;
    const char* what;
    // Offset into the parsed buffer of the field at fault (ICMPv6 Parameter Problem pointers use it).
    std::size_t offset = 0;

    std::string message() const { return std::string(errc_name(code)) + ": " + what; }
    friend bool operator==(const Error& a, const Error& b) { return a.code == b.code; }
};

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : value_(std::move(value)), ok_(true) {}
    Result(Error error) : error_(error) {}

    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const T& value() const { return value_; }
    T& value() { return value_; }
    const T& operator*() const { return value_; }
    const T* operator->() const { return &value_; }
    const Error& error() const { return error_; }

private:
    T value_{};
    Error error_{Errc::bad_value, "", 0};
    bool ok_ = false;
};

inline Error err(Errc code, const char* what, std::size_t offset = 0) { return Error{code, what, offset}; }

} // namespace nemo::wire
