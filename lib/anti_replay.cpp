#include "anti_replay.hpp"

#include <algorithm>

namespace nemo {

ReplayWindow::ReplayWindow(uint32_t size, bool esn)
    : size_(std::max<uint32_t>(1024, (size + 63) / 64 * 64)), words_(size_ / 64 + 1), esn_(esn), bits_(words_, 0)
{
    // One word more than the window, so that sliding clears whole words without touching live bits.
}

uint64_t ReplayWindow::infer(uint32_t low) const
{
    if (!esn_) return low;
    const auto tl = static_cast<uint32_t>(top_);
    const uint64_t th = top_ >> 32;
    const uint32_t w = size_;
    if (tl >= w - 1) {
        // The window lies within one 2^32 subspace.
        const uint32_t bottom = tl - w + 1;
        return ((low >= bottom ? th : th + 1) << 32) | low;
    }
    // The window spans two subspaces: low values near 2^32 belong to the previous one.
    const uint32_t bottom = tl - w + 1; // wraps
    if (low >= bottom && th > 0) return ((th - 1) << 32) | low;
    return (th << 32) | low;
}

ReplayWindow::Verdict ReplayWindow::check(uint64_t seq) const
{
    if (seq == 0) return Verdict::too_old; // sequence numbers start at 1 (RFC 4303 3.3.3)
    if (seq > top_) return Verdict::ok;
    if (top_ - seq >= size_) return Verdict::too_old;
    return seen(seq) ? Verdict::replayed : Verdict::ok;
}

void ReplayWindow::accept(uint64_t seq)
{
    if (seq > top_) {
        // Clear the words the window slides over (all of them on a jump longer than the window).
        const uint64_t first_word = top_ / 64 + 1, last_word = seq / 64;
        if (last_word - first_word + 1 >= words_ || top_ == 0) {
            std::fill(bits_.begin(), bits_.end(), 0);
        } else {
            for (uint64_t wd = first_word; wd <= last_word; ++wd) bits_[wd % words_] = 0;
        }
        top_ = seq;
    }
    bits_[(seq / 64) % words_] |= uint64_t{1} << (seq % 64);
}

} // namespace nemo
