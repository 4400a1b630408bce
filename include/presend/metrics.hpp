// metrics: counters, gauges and histograms, written in the Prometheus text exposition format 0.0.4.
// Updated from libmilter's threads on every message, so updates are lock-free std::atomic operations;
// only finding a labelled child takes a (shared) lock. A family holds at most max_children label sets
// (and one more, "other"): new label values past that count under "other", so a flood of tenants or rule
// ids cannot grow the scrape page or the process without bound.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace presend::metrics {

// The value every label of a family takes once the family holds max_children label sets.
constexpr std::string_view k_overflow_label = "other";
// Longer label values are cut here: rule ids and tenant names are short; anything longer is a bug or an
// attack, and one scrape line must stay readable.
constexpr std::size_t k_max_label_value = 128;

class Counter {
  public:
    void inc(std::uint64_t n = 1) noexcept { m_value.fetch_add(n, std::memory_order_relaxed); }
    std::uint64_t value() const noexcept { return m_value.load(std::memory_order_relaxed); }

  private:
    std::atomic<std::uint64_t> m_value{0};
};

class Gauge {
  public:
    void set(double value) noexcept { m_value.store(value, std::memory_order_relaxed); }
    double value() const noexcept { return m_value.load(std::memory_order_relaxed); }

  private:
    std::atomic<double> m_value{0};
};

// Fixed upper bounds, ascending; the +Inf bucket is implicit. A scrape reads each bucket once and derives
// _count from the buckets, so _count always equals the +Inf bucket even while observations go on.
class Histogram {
  public:
    explicit Histogram(std::vector<double> bounds);
    void observe(double value) noexcept;

    struct Snapshot {
        std::vector<std::uint64_t> cumulative; // one per bound, then +Inf
        double sum = 0;
        std::uint64_t count = 0;
    };
    Snapshot snapshot() const;
    const std::vector<double>& bounds() const { return m_bounds; }

  private:
    std::vector<double> m_bounds;
    std::unique_ptr<std::atomic<std::uint64_t>[]> m_counts; // per bucket, not cumulative; last is +Inf
    std::atomic<double> m_sum{0};
};

// Seconds: from 0.5 ms (a small message) to 10 s (Postfix's milter timeouts are longer; anything near
// this is already an incident).
const std::vector<double>& latency_buckets();

// "name{a=\"x\",b=\"y\"}"-style pieces and numbers as the format wants them.
std::string escape_label_value(std::string_view value); // \ " and newline
std::string escape_help(std::string_view text);         // \ and newline
std::string format_value(double value);                 // shortest round trip; +Inf, -Inf, NaN

class Family {
  public:
    virtual ~Family() = default;
    virtual void write(std::string& out) const = 0;
};

// One metric name with a fixed list of label names and up to max_children label sets.
template <class Metric> class LabelledFamily : public Family {
  public:
    using Make = std::function<std::unique_ptr<Metric>()>;
    LabelledFamily(std::string name, std::string help, std::vector<std::string> label_names,
                   std::size_t max_children, Make make)
        : m_name(std::move(name)), m_help(std::move(help)), m_label_names(std::move(label_names)),
          m_max_children(max_children), m_make(std::move(make)) {
        if (m_label_names.empty()) with({}); // an unlabelled metric shows its zero from the start
    }

    // The child for these label values (as many as label names); created on first use. Finding one that
    // exists allocates nothing: the daemon asks for several per message.
    Metric& with(std::initializer_list<std::string_view> values);

    void write(std::string& out) const override;

  private:
    using Key = std::vector<std::string>;
    using Values = std::span<const std::string_view>;
    // Orders label sets as Key's operator< does (the scrape order), and compares a stored set with the
    // values looked up, each cut at k_max_label_value as stored, without making a Key of them.
    struct KeyLess {
        using is_transparent = void;
        bool operator()(const Key& a, const Key& b) const { return a < b; }
        bool operator()(const Key& a, Values b) const { return compare(a, b) < 0; }
        bool operator()(Values a, const Key& b) const { return compare(b, a) > 0; }
        static int compare(const Key& stored, Values values);
    };
    mutable std::shared_mutex m_mutex;
    std::string m_name, m_help;
    std::vector<std::string> m_label_names;
    std::size_t m_max_children;
    Make m_make;
    std::map<Key, std::unique_ptr<Metric>, KeyLess> m_children; // ordered: a scrape is stable and testable
};

using CounterFamily = LabelledFamily<Counter>;
using GaugeFamily = LabelledFamily<Gauge>;
using HistogramFamily = LabelledFamily<Histogram>;

// The families of one process, written in the order they were added. Add every family before any
// thread updates or renders: adding is not synchronised, everything after it is.
class Registry {
  public:
    CounterFamily& counter(std::string name, std::string help, std::vector<std::string> label_names = {},
                           std::size_t max_children = 64);
    GaugeFamily& gauge(std::string name, std::string help, std::vector<std::string> label_names = {},
                       std::size_t max_children = 64);
    HistogramFamily& histogram(std::string name, std::string help, std::vector<double> bounds,
                               std::vector<std::string> label_names = {}, std::size_t max_children = 64);

    // The whole exposition, "# HELP", "# TYPE" and samples for every family, each line ending in \n.
    std::string render() const;

  private:
    template <class Metric> LabelledFamily<Metric>& add(std::unique_ptr<LabelledFamily<Metric>> family);
    std::vector<std::unique_ptr<Family>> m_families;
};

} // namespace presend::metrics
