#include "client/report_csv.h"

#include <fstream>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace hybrid::client {
namespace {

enum class Kind { kEntity, kTime, kReading, kStd, kInput };

struct Column {
  Kind kind;
  std::string name;  // Observable or input; for kStd the reading's.
};

}  // namespace

absl::StatusOr<std::vector<v1::Report>> ReadReportsCsv(const std::string& path, const std::set<std::string>& inputs) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::vector<Column> columns;
  std::vector<v1::Report> reports;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text[0] == '#') continue;
    std::vector<std::string> cells;
    for (absl::string_view cell : absl::StrSplit(text, ',')) cells.emplace_back(absl::StripAsciiWhitespace(cell));
    const std::string at = absl::StrCat(path, ":", number);
    if (columns.empty()) {
      std::set<std::string> readings;
      for (const std::string& name : cells) {
        if (name == "entity") {
          columns.push_back({Kind::kEntity, name});
        } else if (name == "time") {
          columns.push_back({Kind::kTime, name});
        } else if (absl::EndsWith(name, ":std")) {
          columns.push_back({Kind::kStd, name.substr(0, name.size() - 4)});
        } else if (inputs.count(name) > 0) {
          columns.push_back({Kind::kInput, name});
        } else {
          columns.push_back({Kind::kReading, name});
          readings.insert(name);
        }
      }
      auto has = [&](Kind kind) {
        for (const Column& c : columns) {
          if (c.kind == kind) return true;
        }
        return false;
      };
      if (!has(Kind::kEntity) || !has(Kind::kTime)) {
        return absl::InvalidArgumentError(absl::StrCat(at, ": the header must name an `entity` and a `time` column"));
      }
      for (const Column& c : columns) {
        if (c.kind == Kind::kStd && readings.count(c.name) == 0) {
          return absl::InvalidArgumentError(
              absl::StrCat(at, ": column '", c.name, ":std' has no '", c.name, "' column"));
        }
      }
      continue;
    }
    if (cells.size() != columns.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ": ", cells.size(), " cells; the header has ", columns.size(), " columns"));
    }
    v1::Report report;
    std::map<std::string, double> noise;
    for (size_t i = 0; i < cells.size(); ++i) {
      const Column& c = columns[i];
      if (c.kind == Kind::kEntity) {
        report.set_entity(cells[i]);
        continue;
      }
      if (cells[i].empty()) continue;
      double value = 0.0;
      if (!absl::SimpleAtod(cells[i], &value)) {
        return absl::InvalidArgumentError(absl::StrCat(
            at, ": column '", c.kind == Kind::kStd ? c.name + ":std" : c.name, "': '", cells[i], "' is not a number"));
      }
      switch (c.kind) {
        case Kind::kTime:
          report.set_time(value);
          break;
        case Kind::kReading: {
          v1::Reading* r = report.add_readings();
          r->set_observable(c.name);
          r->set_value(value);
          break;
        }
        case Kind::kStd:
          noise[c.name] = value;
          break;
        case Kind::kInput: {
          v1::InputEvent* e = report.add_inputs();
          e->set_input(c.name);
          e->set_value(value);
          break;
        }
        case Kind::kEntity:
          break;
      }
    }
    for (v1::Reading& r : *report.mutable_readings()) {
      if (const auto it = noise.find(r.observable()); it != noise.end()) r.set_noise_std(it->second);
    }
    if (report.readings().empty() && report.inputs().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(at, ": the row has neither readings nor inputs"));
    }
    reports.push_back(std::move(report));
  }
  if (columns.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no header line"));
  return reports;
}

}  // namespace hybrid::client
