// The ESP anti-replay window (RFC 4303 3.4.3 and Appendix A), with 64-bit extended sequence numbers
// optional (the high half inferred from the low half on the wire, Appendix A2.2). Check before the ICV
// is verified, accept after: a forged packet must not move the window.
#pragma once

#include <cstdint>
#include <vector>

namespace nemo {

class ReplayWindow {
public:
    enum class Verdict : uint8_t { ok, replayed, too_old };

    // `size` packets, rounded up to a multiple of 64 and at least 1024 (the floor).
    explicit ReplayWindow(uint32_t size = 1024, bool esn = false);

    // The full sequence number a received low 32 bits stand for (themselves without ESN).
    uint64_t infer(uint32_t low) const;
    Verdict check(uint64_t seq) const;
    void accept(uint64_t seq);

    uint64_t top() const { return top_; }
    uint32_t size() const { return size_; }
    bool esn() const { return esn_; }

private:
    bool seen(uint64_t seq) const { return (bits_[(seq / 64) % words_] >> (seq % 64)) & 1; }

    uint32_t size_;
    uint32_t words_;
    bool esn_;
    uint64_t top_ = 0; // highest accepted; 0 before any
    std::vector<uint64_t> bits_;
};

} // namespace nemo
