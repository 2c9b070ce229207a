// The demo's titles from a table of inputs: compounds and phrases stay whole, verbs agree with
// plural subjects, and what each input must (and must not) produce.
#include "provider/demo/title_generator.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sg::provider::demo {
namespace {

struct title_case_row {
  std::string input;
  std::vector<std::string> must;
  std::vector<std::string> must_not;
};

const std::vector<title_case_row>& table() {
  static const std::vector<title_case_row> rows = {
      // Hyphenated compounds stay whole.
      {"real-time analytics", {"**Real-Time Analytics: A Practical Guide**", "**Why Real-Time Analytics Matters More"}, {"**Real: ", "**Time", "Real-time"}},
      {"real-time", {"**Real-Time: A Practical Guide**", "**Why Real-Time Matters More"}, {"**Real: ", "**Time"}},
      {"e-commerce checkout", {"**E-Commerce Checkout: A Practical Guide**"}, {"**E: ", "**Commerce"}},
      {"state-of-the-art robotics", {"**State-of-the-Art Robotics: A Practical Guide**", "**Why State-of-the-Art Robotics Matters"}, {"State-Of-The-Art", "**State: "}},
      {"long-term investing for beginners", {"**Long-Term Investing: A Practical Guide**"}, {"**Long: ", "**Term", "Beginners"}},
      {"node.js performance", {"**Node.js Performance: A Practical Guide**"}, {"**Node: ", "**Js"}},
      {"COVID-19 vaccines", {"**COVID-19 Vaccines: A Practical Guide**", "**Why COVID-19 Vaccines Matter More"}, {"**Covid", "Vaccines Matters"}},
      // Multi-word phrases stay whole.
      {"machine learning", {"**Machine Learning: A Practical Guide**", "**Why Machine Learning Matters More"}, {"**Machine: ", "**Learning: "}},
      {"distributed systems design", {"**Distributed Systems Design: A Practical Guide**", "**Why Distributed Systems Design Matters"}, {"**Distributed Systems: "}},
      {"sourdough baking at home", {"**Sourdough Baking: A Practical Guide**", "**Why Sourdough Baking Matters"}, {"Home"}},
      {"small business accounting", {"**Small Business Accounting: A Practical Guide**", "Accounting Matters More"}, {"**Small: "}},
      {"CRISPR gene editing", {"**CRISPR Gene Editing: A Practical Guide**", "**Why CRISPR Gene Editing Matters"}, {"Crispr"}},
      {"cloud native observability platform engineering teams",
       {"**Cloud Native Observability: A Practical Guide**", "**The Platform Engineering Teams Playbook"},
       {"**Cloud: ", "Observability Platform"}},
      // Punctuation ends a phrase.
      {"urban gardening, composting and rooftop bees",
       {"**Urban Gardening: A Practical Guide**", "**From Composting to Rooftop Bees: What Actually Works**",
        "**Urban Gardening, Rooftop Bees and Composting, Explained**"},
       {"Gardening Composting"}},
      {"cats; dogs", {"**Cats: A Practical Guide**", "**Why Cats Matter More"}, {"Cats Dogs"}},
      {"startup founders in Berlin", {"**Why Startup Founders Matter More", "**The Berlin Playbook"}, {"Founders Matters", "Founders In"}},
      // Plural subjects take "Matter", singular ones "Matters".
      {"resilient networks", {"**Why Resilient Networks Matter More Than You Think**", "**Resilient Networks: A Practical Guide**"}, {"Networks Matters", "**Resilient: "}},
      {"why resilient networks matter", {"**Resilient Networks: A Practical Guide**", "**Why Resilient Networks Matter More"}, {"Networks Matter:", "Matter Matter"}},
      {"electric bicycles in winter", {"**Electric Bicycles: A Practical Guide**", "**Why Electric Bicycles Matter More", "**The Winter Playbook"}, {"Bicycles Matters"}},
      {"open source maintainers", {"**Why Open Source Maintainers Matter More"}, {"Maintainers Matters"}},
      {"remote teams", {"**Why Remote Teams Matter More"}, {"Teams Matters"}},
      {"children's books", {"**Children's Books: A Practical Guide**", "**Why Children's Books Matter More"}, {"Books Matters"}},
      {"happy people", {"**Why Happy People Matter More"}, {"People Matters"}},
      {"viruses", {"**Why Viruses Matter More"}, {"Viruses Matters"}},
      {"GraphQL APIs", {"**GraphQL APIs: A Practical Guide**", "**Why GraphQL APIs Matter More"}, {"Graphql", "APIs Matters"}},
      {"iOS widgets", {"**iOS Widgets: A Practical Guide**", "**Why iOS Widgets Matter More"}, {"IOS", "Widgets Matters"}},
      {"kubernetes", {"**Why Kubernetes Matters More"}, {"Kubernetes Matter More"}},
      {"local news", {"**Why Local News Matters More"}, {"News Matter More"}},
      {"data analysis", {"**Why Data Analysis Matters More"}, {"Analysis Matter More"}},
      {"glass", {"**Why Glass Matters More"}, {"Glass Matter More"}},
      {"supply chain logistics", {"**Why Supply Chain Logistics Matters More"}, {"Logistics Matter More"}},
      {"a virus", {"**Why Virus Matters More"}, {"Virus Matter More"}},
      {"AI safety", {"**AI Safety: A Practical Guide**", "**Why AI Safety Matters More", "frames AI safety as overlooked"}, {"Ai Safety"}},
      {"café culture", {"**Café Culture: A Practical Guide**", "**Why Café Culture Matters More"}, {"café Culture"}},
      {"hello, can you help me?", {"**Why Fresh Ideas Matter More"}, {"Ideas Matters"}},
  };
  return rows;
}

TEST(TitleTable, HasEnoughRows) { EXPECT_GE(table().size(), 30u); }

TEST(TitleTable, EachInputGivesTheTitlesItMustAndNoneItMustNot) {
  for (auto& row : table()) {
    request r;
    r.user_input = row.input;
    auto g = generate_titles(r);
    for (auto& want : row.must) EXPECT_NE(g.text.find(want), std::string::npos) << "input: " << row.input << "\nmissing: " << want << "\n" << g.text;
    for (auto& unwanted : row.must_not)
      EXPECT_EQ(g.text.find(unwanted), std::string::npos) << "input: " << row.input << "\nunwanted: " << unwanted << "\n" << g.text;
    std::string joined;
    for (auto& t : g.tokens) joined += t;
    EXPECT_EQ(joined, g.text) << "input: " << row.input;
  }
}

TEST(TitleTable, KeyPhrasesKeepCompoundsAndRunsWhole) {
  request r;
  r.user_input = "real-time analytics for remote teams, and e-commerce";
  auto p = key_phrases(r, 3);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0], "real-time analytics");
  EXPECT_EQ(p[1], "remote teams");
  EXPECT_EQ(p[2], "e-commerce");
}

}  // namespace
}  // namespace sg::provider::demo
