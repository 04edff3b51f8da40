#include <map>

#include "pthsafe/report.hpp"
#include "pthsafe/pthsafe.hpp"
#include "util/json.hpp"

namespace pthsafe {
namespace {
const char* sarif_level(severity s) {
  switch (s) {
    case severity::error: return "error";
    case severity::warning: return "warning";
    case severity::note: return "note";
  }
  return "error";
}
}  // namespace

std::string sarif_log(const std::vector<scanned_file>& files) {
  // Rule table: every rule id that occurs, with the level it first occurred at.
  std::map<std::string, std::pair<severity, std::string>> rules;
  for (const auto& f : files)
    for (const auto& x : f.report.findings) {
      std::string desc;
      for (int i = 0; i < 256; ++i) {
        const auto c = static_cast<errc>(i);
        if (errc_name(c) == "unknown_error") break;
        if (errc_name(c) == x.rule) { desc = std::string(errc_description(c)); break; }
      }
      if (desc.empty()) desc = x.message;
      rules.emplace(x.rule, std::make_pair(x.severity, desc));
    }
  detail::json_writer w;
  w.begin_object();
  w.key("$schema").str("https://json.schemastore.org/sarif-2.1.0.json");
  w.key("version").str("2.1.0");
  w.key("runs").begin_array().begin_object();
  w.key("tool").begin_object().key("driver").begin_object();
  w.key("name").str("pthsafe").key("version").str(version()).key("semanticVersion").str(version());
  w.key("rules").begin_array();
  for (const auto& [id, info] : rules) {
    w.begin_object().key("id").str(id);
    w.key("shortDescription").begin_object().key("text").str(info.second).end_object();
    w.key("defaultConfiguration").begin_object().key("level").str(sarif_level(info.first)).end_object();
    w.end_object();
  }
  w.end_array().end_object().end_object();
  w.key("results").begin_array();
  for (const auto& f : files) {
    for (const auto& x : f.report.findings) {
      w.begin_object();
      w.key("ruleId").str(x.rule);
      w.key("level").str(sarif_level(x.severity));
      std::string text = x.message;
      if (!x.subject.empty()) text += " [" + x.subject + "]";
      if (!x.record.empty()) text += " (record " + x.record + ")";
      w.key("message").begin_object().key("text").str(text).end_object();
      w.key("locations").begin_array().begin_object();
      w.key("physicalLocation").begin_object();
      w.key("artifactLocation").begin_object().key("uri").str(f.path).end_object();
      w.key("region").begin_object().key("startLine").num(std::int64_t{1}).key("byteOffset").num(x.offset).end_object();
      w.end_object();
      if (!x.record.empty())
        w.key("logicalLocations").begin_array().begin_object().key("name").str(x.record).key("kind").str("member").end_object().end_array();
      w.end_object().end_array();
      w.key("properties").begin_object().key("verdict").str(verdict_name(f.report.verdict)).end_object();
      w.end_object();
    }
  }
  w.end_array();
  w.end_object().end_array();
  w.end_object();
  return w.take();
}

}  // namespace pthsafe
