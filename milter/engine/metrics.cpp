// metrics: see presend/metrics.hpp. The text format is Prometheus' exposition format 0.0.4:
// "# HELP name text", "# TYPE name type", then one "name{labels} value" line per sample.
#include "presend/metrics.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <mutex>
#include <stdexcept>

namespace presend::metrics {

namespace {

// Backslash and newline always; the double quote only where it would end a label value.
std::string escape(std::string_view text, bool quote) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else if (c == '"' && quote)
            out += "\\\"";
        else
            out += c;
    }
    return out;
}

std::string_view type_name(const Counter*) {
    return "counter";
}
std::string_view type_name(const Gauge*) {
    return "gauge";
}
std::string_view type_name(const Histogram*) {
    return "histogram";
}

// {a="x",b="y"} plus an optional extra label (le for histogram buckets); nothing when there are no labels.
std::string label_set(const std::vector<std::string>& names, const std::vector<std::string>& values,
                      std::string_view extra_name = {}, std::string_view extra_value = {}) {
    if (names.empty() && extra_name.empty()) return {};
    std::string out = "{";
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i) out += ',';
        out += names[i];
        out += "=\"";
        out += escape_label_value(values[i]);
        out += '"';
    }
    if (!extra_name.empty()) {
        if (!names.empty()) out += ',';
        out += extra_name;
        out += "=\"";
        out += extra_value;
        out += '"';
    }
    out += '}';
    return out;
}

void write_samples(std::string& out, const std::string& name, const std::vector<std::string>& names,
                   const std::vector<std::string>& values, const Counter& counter) {
    out += name + label_set(names, values) + ' ' + std::to_string(counter.value()) + '\n';
}

void write_samples(std::string& out, const std::string& name, const std::vector<std::string>& names,
                   const std::vector<std::string>& values, const Gauge& gauge) {
    out += name + label_set(names, values) + ' ' + format_value(gauge.value()) + '\n';
}

void write_samples(std::string& out, const std::string& name, const std::vector<std::string>& names,
                   const std::vector<std::string>& values, const Histogram& histogram) {
    const auto snap = histogram.snapshot();
    const auto& bounds = histogram.bounds();
    for (std::size_t i = 0; i <= bounds.size(); ++i) {
        const std::string le = i < bounds.size() ? format_value(bounds[i]) : "+Inf";
        out += name + "_bucket" + label_set(names, values, "le", le) + ' ' +
               std::to_string(snap.cumulative[i]) + '\n';
    }
    out += name + "_sum" + label_set(names, values) + ' ' + format_value(snap.sum) + '\n';
    out += name + "_count" + label_set(names, values) + ' ' + std::to_string(snap.count) + '\n';
}

} // namespace

Histogram::Histogram(std::vector<double> bounds)
    : m_bounds(std::move(bounds)), m_counts(new std::atomic<std::uint64_t>[m_bounds.size() + 1]) {
    for (std::size_t i = 0; i < m_bounds.size(); ++i)
        if (!std::isfinite(m_bounds[i]) || (i > 0 && m_bounds[i] <= m_bounds[i - 1]))
            throw std::invalid_argument("histogram bounds must be finite and strictly ascending");
    for (std::size_t i = 0; i <= m_bounds.size(); ++i)
        m_counts[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double value) noexcept {
    std::size_t bucket = 0;
    while (bucket < m_bounds.size() && value > m_bounds[bucket]) // le: a value on a bound counts in it
        ++bucket;
    m_counts[bucket].fetch_add(1, std::memory_order_relaxed);
    m_sum.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
    Snapshot snap;
    snap.cumulative.reserve(m_bounds.size() + 1);
    for (std::size_t i = 0; i <= m_bounds.size(); ++i) {
        snap.count += m_counts[i].load(std::memory_order_relaxed);
        snap.cumulative.push_back(snap.count);
    }
    snap.sum = m_sum.load(std::memory_order_relaxed);
    return snap;
}

const std::vector<double>& latency_buckets() {
    static const std::vector<double> bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                            0.1,    0.25,  0.5,    1,     2.5,  5,     10};
    return bounds;
}

std::string escape_label_value(std::string_view value) {
    return escape(value.substr(0, k_max_label_value), true);
}

std::string escape_help(std::string_view text) {
    return escape(text, false);
}

std::string format_value(double value) {
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    // Plain decimals ("0.0005", not "5e-04") where they stay short, as other exporters write bucket bounds;
    // the shortest round-trip form elsewhere. Both parse back to the same double.
    std::array<char, 64> buf{};
    const double magnitude = std::fabs(value);
    const auto result =
        magnitude == 0 || (magnitude >= 1e-6 && magnitude < 1e15)
            ? std::to_chars(buf.data(), buf.data() + buf.size(), value, std::chars_format::fixed)
            : std::to_chars(buf.data(), buf.data() + buf.size(), value);
    return std::string(buf.data(), result.ptr);
}

template <class Metric> int LabelledFamily<Metric>::KeyLess::compare(const Key& stored, Values values) {
    const std::size_t common = std::min(stored.size(), values.size());
    for (std::size_t i = 0; i < common; ++i)
        if (const int c = std::string_view(stored[i]).compare(values[i].substr(0, k_max_label_value)); c != 0)
            return c;
    return stored.size() < values.size() ? -1 : stored.size() > values.size() ? 1 : 0;
}

template <class Metric> Metric& LabelledFamily<Metric>::with(std::initializer_list<std::string_view> list) {
    const Values values(list.begin(), list.size());
    if (values.size() != m_label_names.size())
        throw std::invalid_argument(m_name + ": expected " + std::to_string(m_label_names.size()) +
                                    " label values");
    {
        std::shared_lock lock(m_mutex);
        if (auto it = m_children.find(values); it != m_children.end()) return *it->second;
    }
    Key key;
    key.reserve(values.size());
    for (auto v : values)
        key.emplace_back(v.substr(0, k_max_label_value));
    std::unique_lock lock(m_mutex);
    if (auto it = m_children.find(key); it != m_children.end()) return *it->second;
    if (m_children.size() >= m_max_children) key.assign(key.size(), std::string(k_overflow_label));
    auto& child = m_children[key];
    if (!child) child = m_make();
    return *child;
}

template <class Metric> void LabelledFamily<Metric>::write(std::string& out) const {
    out += "# HELP " + m_name + ' ' + escape_help(m_help) + '\n';
    out += "# TYPE " + m_name + ' ' + std::string(type_name(static_cast<const Metric*>(nullptr))) + '\n';
    std::shared_lock lock(m_mutex);
    for (const auto& [values, metric] : m_children)
        write_samples(out, m_name, m_label_names, values, *metric);
}

template class LabelledFamily<Counter>;
template class LabelledFamily<Gauge>;
template class LabelledFamily<Histogram>;

template <class Metric>
LabelledFamily<Metric>& Registry::add(std::unique_ptr<LabelledFamily<Metric>> family) {
    auto& ref = *family;
    m_families.push_back(std::move(family));
    return ref;
}

CounterFamily& Registry::counter(std::string name, std::string help, std::vector<std::string> label_names,
                                 std::size_t max_children) {
    return add(std::make_unique<CounterFamily>(std::move(name), std::move(help), std::move(label_names),
                                               max_children, [] { return std::make_unique<Counter>(); }));
}

GaugeFamily& Registry::gauge(std::string name, std::string help, std::vector<std::string> label_names,
                             std::size_t max_children) {
    return add(std::make_unique<GaugeFamily>(std::move(name), std::move(help), std::move(label_names),
                                             max_children, [] { return std::make_unique<Gauge>(); }));
}

HistogramFamily& Registry::histogram(std::string name, std::string help, std::vector<double> bounds,
                                     std::vector<std::string> label_names, std::size_t max_children) {
    Histogram probe(bounds); // bad bounds fail here, when the family is added, not at the first message
    return add(std::make_unique<HistogramFamily>(
        std::move(name), std::move(help), std::move(label_names), max_children,
        [bounds = std::move(bounds)] { return std::make_unique<Histogram>(bounds); }));
}

std::string Registry::render() const {
    std::string out;
    for (const auto& family : m_families)
        family->write(out);
    return out;
}

} // namespace presend::metrics
