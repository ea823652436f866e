// Tests of the math verifier: equivalent pairs accepted, different pairs rejected (both matter:
// a false positive rewards a wrong answer, a false negative punishes a right one), extraction from
// completions, and every MATH-500 gold answer against itself and rewritten equivalent forms.
#include "rewards/math_verify.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/test_util.h"

namespace r1::rewards {
namespace {

struct Pair {
  const char* gold;
  const char* pred;
};

// Equivalent forms that must be accepted.
const Pair kEqual[] = {
    {"42", "42"},
    {"42", " 42 "},
    {"42", "42.0"},
    {"42", "42.000"},
    {"025", "25"},
    {"1000", "1,000"},
    {"1,000", "1000"},
    {"10,\\!080", "10080"},
    {"11,\\! 111,\\! 111,\\! 100", "11111111100"},
    {"58,500", "58500"},
    {"-50", "-50"},
    {"-50", "- 50"},
    {"0.5", "\\frac{1}{2}"},
    {"\\frac{1}{2}", "0.5"},
    {"\\frac{1}{2}", "1/2"},
    {"\\frac{1}{2}", "\\dfrac{1}{2}"},
    {"\\frac{1}{2}", "\\tfrac{1}{2}"},
    {"\\frac12", "\\frac{1}{2}"},
    {"\\frac 59", "5/9"},
    {"\\frac43", "\\frac{4}{3}"},
    {"\\frac9{19}", "9/19"},
    {"\\frac{14}{3}", "\\frac{28}{6}"},
    {"-\\frac{35}{9}", "\\frac{-35}{9}"},
    {"-\\frac{35}{9}", "-35/9"},
    {"\\dfrac{17}{50}", "0.34"},
    {"\\dfrac{33}{100}", "0.33"},
    {"1.25", "\\frac{5}{4}"},
    {"1.25", "5/4"},
    {".0000672", "0.0000672"},
    {".35625", "0.35625"},
    {"3.21", "3.210"},
    {"1\\frac{4}{5}", "\\frac{9}{5}"},
    {"1\\frac{4}{5}", "1.8"},
    {"137 \\frac{1}{2}", "137.5"},
    {"3\\sqrt{13}", "\\sqrt{117}"},
    {"3\\sqrt{13}", "3 \\sqrt{13}"},
    {"11\\sqrt2", "11\\sqrt{2}"},
    {"\\sqrt{51}", "\\sqrt{51}"},
    {"\\frac{3\\sqrt{3}}{4}", "\\frac{3}{4}\\sqrt{3}"},
    {"\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt{3}}"},
    {"2\\sqrt{5}", "\\sqrt{20}"},
    {"\\sqrt[3]{8}", "2"},
    {"\\pi", "\\pi"},
    {"7\\pi", "7 \\pi"},
    {"18+2\\pi", "2\\pi + 18"},
    {"\\frac{20000}{\\pi}", "20000/\\pi"},
    {"288 \\pi", "288\\pi"},
    {"-\\frac{\\pi}{6}", "-\\pi/6"},
    {"90^\\circ", "90"},
    {"90^\\circ", "90^{\\circ}"},
    {"30^\\circ", "30 degrees"},
    {"\\frac{270}7\\text{ degrees}", "\\frac{270}{7}"},
    {"50\\%", "50"},
    {"50\\%", "50%"},
    {"50\\%", "0.5"},
    {"\\$32,\\!348", "32348"},
    {"\\$18.90", "18.9"},
    {"\\$36", "36"},
    {"5.4 \\text{ cents}", "5.4"},
    {"864 \\mbox{ inches}^2", "864"},
    {"15\\mbox{ cm}^2", "15"},
    {"\\text{Evelyn}", "Evelyn"},
    {"\\text{Evelyn}", "evelyn"},
    {"\\text{east}", "East"},
    {"\\text{(C)}", "C"},
    {"\\text{(C)}", "(C)"},
    {"\\text{(E)}", "\\text{E}"},
    {"x=5", "5"},
    {"5", "x = 5"},
    {"x=5", "x=5.0"},
    {"y = 2x + 3", "y=3+2x"},
    {"y = -2x", "y=-2x"},
    {"5x - 7y + 11z + 4 = 0", "-5x + 7y - 11z - 4 = 0"},
    {"5x - 7y + 11z + 4 = 0", "10x - 14y + 22z + 8 = 0"},
    {"p - q", "-q + p"},
    {"x^5 - x^4 + x^3 - x^2 + x - 1", "x^5-x^4+x^3-x^2+x-1"},
    {"x^3+3x-6", "3x + x^3 - 6"},
    {"(a+5)(b+2)", "(b+2)(a+5)"},
    {"(a+5)(b+2)", "ab+2a+5b+10"},
    {"2k+2", "2(k+1)"},
    {"6r^2-4r-24", "2(3r^2-2r-12)"},
    {"3R^2", "3 R^2"},
    {"5r^5", "5 r^{5}"},
    {"-13x+3", "3-13x"},
    {"15x - 80", "5(3x-16)"},
    {"8n^2 + 4n + 1", "1+4n+8n^2"},
    {"\\frac{11+9a}{20}", "\\frac{9a+11}{20}"},
    {"\\cot x", "\\frac{\\cos x}{\\sin x}"},
    {"\\cot x", "\\cot(x)"},
    {"x^8 + x^7 + x^6 + x^5 + x^4 + x^3 + x^2 + x + 1", "\\frac{x^9-1}{x-1}"},
    {"6 - 5i", "6-5i"},
    {"-2 + 7i", "7i - 2"},
    {"1+274i", "1 + 274 i"},
    {"\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\pi/2)"},
    {"\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})"},
    {"(6,31,-1)", "(6, 31, -1)"},
    {"(-2,1)", "\\left(-2, 1\\right)"},
    {"(15,-29)", "(15, -29)"},
    {"(1,-16,-4,43)", "(1, -16, -4, 43)"},
    {"\\left( \\frac{3}{2}, -13 \\right)", "(1.5, -13)"},
    {"(3,4]", "(3, 4]"},
    {"(2,\\infty)", "(2, \\infty)"},
    {"(-\\infty, 0]", "(-\\infty,0]"},
    {"\\left(\\frac{3}{5},\\frac{8}{3}\\right]", "(0.6, 8/3]"},
    {"(-\\infty, 2) \\cup (3, \\infty)", "(3,\\infty)\\cup(-\\infty,2)"},
    {"(0,9) \\cup (9,36)", "(0, 9) \\cup (9, 36)"},
    {"x \\in [-2,7]", "[-2,7]"},
    {"\\left[ \\frac{\\pi^2}{8}, \\frac{5 \\pi^2}{4} \\right]", "[\\pi^2/8, 5\\pi^2/4]"},
    {"1,-2", "-2, 1"},
    {"3, 5, 7", "7, 5, 3"},
    {"-2,1", "1,-2"},
    {"1 \\pm \\sqrt{19}", "1+\\sqrt{19}, 1-\\sqrt{19}"},
    {"3 \\pm 2 \\sqrt{2}", "3-2\\sqrt{2},3+2\\sqrt{2}"},
    {"\\{1\\pm\\sqrt{5},-2\\}", "-2, 1+\\sqrt{5}, 1-\\sqrt{5}"},
    {"\\{1\\pm\\sqrt{5},-2\\}", "\\{-2,1-\\sqrt5,1+\\sqrt5\\}"},
    {"\\begin{pmatrix} -1/3 \\\\ 2/3 \\\\ 5/3 \\end{pmatrix}", "\\begin{pmatrix} -\\frac{1}{3} \\\\ \\frac{2}{3} \\\\ \\frac{5}{3} \\end{pmatrix}"},
    {"\\begin{pmatrix} -2 \\\\ -14 \\\\ -7 \\end{pmatrix}", "(-2, -14, -7)"},
    {"\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}", "\\begin{bmatrix}-1&0\\\\0&-1\\end{bmatrix}"},
    {"52_8", "52_{8}"},
    {"4210_{5}", "4210_5"},
    {"\\binom{5}{2}", "10"},
    {"5!", "120"},
    {"2^{10}", "1024"},
    {"e^{2}", "e^2"},
    {"\\sqrt{x}", "x^{1/2}"},
    {"\\ln 8", "3\\ln 2"},
    {"\\log_2 8", "3"},
    {"\\sin^2 x + \\cos^2 x", "1"},
    {"2 \\cdot 3", "6"},
    {"2 \\times 3", "6"},
    {"\\infty", "\\infty"},
    {"-3", "\u22123"},
    {"2 \\times 3", "2\u00d73"},
    {"2\\pi", "2\u03c0"},
    {"(-\\infty,\\infty)", "\\mathbb{R}"},
    {"\\frac{1}{4}", "25\\%"},
    {"x^2+2x+1", "(x+1)^2"},
    {"\\{1,2,3\\}", "1, 2, 3"},
    {"\\$1,000", "1000 dollars"},
    {"1000000", "10^6"},
};

// Different answers that must be rejected.
const Pair kDifferent[] = {
    {"42", "43"},
    {"42", "4.2"},
    {"42", "-42"},
    {"42", ""},
    {"1000", "100"},
    {"1,000", "1,001"},
    {"10,\\!080", "10,079"},
    {"\\frac{1}{2}", "0.51"},
    {"\\frac{1}{2}", "\\frac{1}{3}"},
    {"\\frac{1}{3}", "0.333"},
    {"\\frac{1}{3}", "0.33"},
    {"\\frac{14}{3}", "\\frac{3}{14}"},
    {"-\\frac{35}{9}", "\\frac{35}{9}"},
    {".0000672", "0.0000673"},
    {".0000672", "0.000067"},
    {"1\\frac{4}{5}", "\\frac{4}{5}"},
    {"3\\sqrt{13}", "3\\sqrt{12}"},
    {"3\\sqrt{13}", "\\sqrt{39}"},
    {"\\pi", "3.14"},
    {"\\pi", "3.1416"},
    {"7\\pi", "7"},
    {"90^\\circ", "91"},
    {"50\\%", "0.05"},
    {"0.5", "50"},
    {"\\text{Evelyn}", "Evelin"},
    {"\\text{east}", "west"},
    {"\\text{(C)}", "B"},
    {"\\text{(C)}", "(D)"},
    {"x=5", "x=6"},
    {"y = 2x + 3", "y = 3x + 2"},
    {"y = -2x", "y = 2x"},
    {"5x - 7y + 11z + 4 = 0", "5x - 7y + 11z - 4 = 0"},
    {"p - q", "q - p"},
    {"x^3+3x-6", "x^3+3x+6"},
    {"x^5 - x^4 + x^3 - x^2 + x - 1", "x^5 - x^4 + x^3 - x^2 + x + 1"},
    {"(a+5)(b+2)", "(a+2)(b+5)"},
    {"2k+2", "2k"},
    {"3R^2", "3r^2"},
    {"\\cot x", "\\tan x"},
    {"6 - 5i", "6+5i"},
    {"6 - 5i", "6"},
    {"\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\pi)"},
    {"\\left( 3, \\frac{\\pi}{2} \\right)", "(\\frac{\\pi}{2}, 3)"},
    {"(6,31,-1)", "(6,31,1)"},
    {"(6,31,-1)", "(6,31)"},
    {"(3,4]", "(3,4)"},
    {"(3,4]", "[3,4]"},
    {"(2,\\infty)", "[2,\\infty)"},
    {"(-\\infty, 0]", "(-\\infty, 0)"},
    {"(-\\infty, 2) \\cup (3, \\infty)", "(-\\infty, 2) \\cup [3, \\infty)"},
    {"(-\\infty, 2) \\cup (3, \\infty)", "(-\\infty, 3)"},
    {"x \\in [-2,7]", "(-2,7)"},
    {"1,-2", "1,2"},
    {"1,-2", "1"},
    {"3, 5, 7", "3, 5"},
    {"1 \\pm \\sqrt{19}", "1+\\sqrt{19}"},
    {"\\{1\\pm\\sqrt{5},-2\\}", "\\{1\\pm\\sqrt{5},2\\}"},
    {"\\begin{pmatrix} -2 \\\\ -14 \\\\ -7 \\end{pmatrix}", "\\begin{pmatrix} -2 \\\\ -14 \\\\ 7 \\end{pmatrix}"},
    {"\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}", "\\begin{pmatrix} -1 & 0 \\\\ 0 & 1 \\end{pmatrix}"},
    {"\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}", "(-1, 0, 0, -1)"},
    {"52_8", "52_7"},
    {"52_8", "52"},
    {"5!", "5"},
    {"2^{10}", "20"},
    {"\\sqrt{x}", "x^2"},
    {"\\log_2 8", "8"},
    {"\\infty", "-\\infty"},
    {"12", "\\boxed{12"},
    {"2", "2.0001"},
    {"-\\frac{1}{2}", "0.5"},
    {"x^2+2x+1", "(x+1)^3"},
    {"\\sqrt{2}", "1.41"},
    {"-3", "3"},
};

// Class 1: numbers compare by relative difference at every magnitude; only rounding noise of a
// computed value (an exact 0 against \sin\pi) is excused, never a real difference of tiny values.
const Pair kTinyEqual[] = {
    {"2\\times 10^{-30}", "2 \\cdot 10^{-30}"},
    {"2\\times 10^{-30}", "\\frac{1}{5}\\times 10^{-29}"},
    {"1.6 \\times 10^{-19}", "16 \\times 10^{-20}"},
    {"6.02\\times10^{23}", "602000000000000000000000"},
    {"10^{-13}", "1-0.9999999999999"},
    {"0", "\\sin \\pi"},
    {"0", "\\cos\\frac{\\pi}{2}"},
    {"0", "0.0"},
    {"3\\times 10^{-40} x", "\\frac{3x}{10^{40}}"},
};
const Pair kTinyDifferent[] = {
    {"10^{-30}", "2\\times 10^{-30}"},
    {"1\\times10^{-30}", "2 \\times 10^{-30}"},
    {"0", "10^{-30}"},
    {"0", "10^{-300}"},
    {"10^{-13}", "2\\times 10^{-13}"},
    {"3\\times 10^{-20}", "3.1\\times10^{-20}"},
    {"1.5\\times 10^{-15}", "1.5 \\times 10^{-14}"},
    {"2\\times 10^{-12}", "1-0.999999999999"},
    {"10^{-30} x", "2\\cdot 10^{-30} x"},
    {"\\frac{1}{10^{20}}", "\\frac{1}{2\\cdot 10^{20}}"},
};

TEST(MathVerify, TinyMagnitudesCompareRelatively) {
  for (const auto& p : kTinyEqual) {
    EXPECT_TRUE(math_equal(p.gold, p.pred)) << "gold=" << p.gold << " pred=" << p.pred;
    EXPECT_TRUE(math_equal(p.pred, p.gold)) << "symmetric: gold=" << p.pred << " pred=" << p.gold;
  }
  for (const auto& p : kTinyDifferent) {
    EXPECT_FALSE(math_equal(p.gold, p.pred)) << "gold=" << p.gold << " pred=" << p.pred;
    EXPECT_FALSE(math_equal(p.pred, p.gold)) << "symmetric: gold=" << p.pred << " pred=" << p.gold;
  }
  EXPECT_TRUE(verify("10^{-30}", "\\boxed{1 \\times 10^{-30}}"));
  EXPECT_FALSE(verify("10^{-30}", "\\boxed{2 \\times 10^{-30}}"));
}

// Class 2: a prediction whose LaTeX does not close is no answer (no extraction, no last-number
// fallback), and never a crash.
TEST(MathVerify, MalformedLatexIsNoAnswer) {
  const char* kMalformed[] = {"\\boxed{12", "\\frac{1}{2", "\\frac{1}{", "12}", "{12", "1\\right)",
                              "(1,2\\right)", "\\left(1,2)", "(1,2", "1,2)", "\\sqrt{4", "\\{1,2",
                              "\\frac{1}{2}}", "\\", "12\\", "\\boxed{", "\\left(1,2\\right"};
  for (const char* m : kMalformed) {
    EXPECT_FALSE(balanced_latex(m)) << m;
    for (const char* gold : {"12", "\\frac{1}{2}", "(1,2)", "\\{1,2\\}", "2", "1", "4"}) {
      EXPECT_FALSE(math_equal(gold, m)) << "gold=" << gold << " pred=" << m;
      EXPECT_FALSE(verify(gold, m)) << "gold=" << gold << " pred=" << m;
    }
  }
  for (const char* ok : {"(3,4]", "\\left( 3, \\frac{\\pi}{2} \\right)", "\\{1,2\\}", "\\left\\{1\\right.",
                         "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "[0,1)", "\\frac12"})
    EXPECT_TRUE(balanced_latex(ok)) << ok;
  EXPECT_FALSE(verify("12", "\\boxed"));
  EXPECT_EQ(extract_answer("the answer is \\boxed"), "");
  // An unclosed last box is no answer, even after an earlier closed one or inside <answer>.
  EXPECT_EQ(extract_answer("so the answer is \\boxed{12"), "");
  EXPECT_EQ(extract_answer("first \\boxed{3}, then \\boxed{12"), "");
  EXPECT_EQ(extract_answer("<answer>\\boxed{12</answer>"), "");
  EXPECT_EQ(answer_text("The answer is \\boxed{12"), "");
  EXPECT_FALSE(verify("12", "The answer is \\boxed{12"));
  EXPECT_FALSE(verify("3", "first \\boxed{3}, then \\boxed{12"));
  EXPECT_FALSE(verify("2", "The answer is \\frac{1}{2"));
  EXPECT_FALSE(verify("12", "<answer>\\boxed{12</answer>"));
  EXPECT_TRUE(verify("12", "The answer is \\boxed{12}"));  // the closed form still counts
  // Deeply nested or long junk: no crash, no answer.
  const std::string deep(5000, '{');
  EXPECT_FALSE(math_equal("1", deep + "1"));
  EXPECT_FALSE(verify("1", "\\boxed" + deep + "1"));
  EXPECT_FALSE(math_equal("1", std::string(5000, '(') + "1"));
  EXPECT_FALSE(math_equal("1", "\\frac" + std::string(3000, '{')));
}

// Class 3: repeating-decimal notation denotes the exact fraction; a truncated decimal does not.
TEST(MathVerify, RepeatingDecimals) {
  const Pair kEq[] = {
      {"\\frac{1}{3}", "0.\\overline{3}"},       {"\\frac{1}{6}", "0.1\\overline{6}"},
      {"\\frac{8}{7}", "1.\\overline{142857}"},  {"\\frac{1}{3}", "0.\\bar{3}"},
      {"\\frac{1}{3}", ".\\overline{3}"},        {"\\frac{1}{3}", "0.\\dot{3}"},
      {"\\frac{1}{6}", "0.1\\dot{6}"},           {"\\frac{1}{6}", "0.1\\dot 6"},
      {"\\frac{1}{7}", "0.\\dot{1}4285\\dot{7}"}, {"1", "0.\\overline{9}"},
      {"\\frac{41}{333}", "0.\\overline{123}"},  {"-\\frac{1}{3}", "-0.\\overline{3}"},
      {"\\frac{7}{12}", "0.58\\overline{3}"},    {"\\frac{2}{3}", "2 \\cdot 0.\\overline{3}"},
      {"0.\\overline{3}", "0.3\\overline{3}"},   {"\\frac{1}{22}", "0.0\\overline{45}"},
  };
  for (const auto& p : kEq) {
    EXPECT_TRUE(math_equal(p.gold, p.pred)) << "gold=" << p.gold << " pred=" << p.pred;
    EXPECT_TRUE(math_equal(p.pred, p.gold)) << "symmetric: gold=" << p.pred << " pred=" << p.gold;
    EXPECT_TRUE(verify(p.gold, std::string("so \\boxed{") + p.pred + "}")) << p.pred;
  }
  const Pair kNe[] = {
      {"\\frac{1}{3}", "0.333"},  {"\\frac{1}{3}", "0.3333333"}, {"0.\\overline{3}", "0.333"},
      {"0.\\overline{3}", "0.3"}, {"\\frac{1}{6}", "0.16"},      {"\\frac{1}{6}", "0.\\overline{16}"},
      {"\\frac{8}{7}", "1.142857"}, {"\\frac{1}{7}", "0.\\dot{1}4285"}, {"\\frac{1}{3}", "0.\\overline{31}"},
      // However many digits: a terminating decimal is never a repeating one, nor an irrational.
      {"\\frac{1}{3}", "0.3333333333"}, {"\\frac{1}{3}", "0.333333333333"}, {"\\sqrt{2}", "1.41421356237"},
      {"0.3333333333", "0.33333333334"}, {"\\frac{1}{7}", "\\frac{142857}{1000000}"}, {"\\pi", "3.14159265359"},
  };
  for (const auto& p : kNe) {
    EXPECT_FALSE(math_equal(p.gold, p.pred)) << "gold=" << p.gold << " pred=" << p.pred;
    EXPECT_FALSE(math_equal(p.pred, p.gold)) << "symmetric: gold=" << p.pred << " pred=" << p.gold;
  }
  // Terminating decimals still equal their exact fractions.
  for (const auto& p : {Pair{"\\frac{17}{50}", "0.340"}, Pair{"\\frac{1}{8}", "0.125"}, Pair{"\\frac{3}{2}", "1.5"},
                        Pair{"42", "42.000"}, Pair{"\\frac{1}{1024}", "0.0009765625"}})
    EXPECT_TRUE(math_equal(p.gold, p.pred) && math_equal(p.pred, p.gold)) << p.gold << " " << p.pred;
  EXPECT_EQ(numeric_value("0.1\\overline{6}"), 1.0 / 6.0);
  EXPECT_EQ(numeric_value("1.\\overline{142857}"), 8.0 / 7.0);
  // Malformed periods parse as nothing: a dot that is not last, digits after a bar.
  EXPECT_FALSE(numeric_value("0.\\dot{3}3"));
  EXPECT_FALSE(numeric_value("0.\\overline{3}3"));
  EXPECT_FALSE(numeric_value("0.\\overline{}"));
  EXPECT_EQ(normalize_answer("0.\\overline{3}"), normalize_answer("\\frac{1}{3}"));
}

TEST(MathVerify, EquivalentPairsAccepted) {
  for (const auto& p : kEqual) {
    EXPECT_TRUE(math_equal(p.gold, p.pred)) << "gold=" << p.gold << " pred=" << p.pred;
    EXPECT_TRUE(math_equal(p.pred, p.gold))
        << "symmetric: gold=" << p.pred << " pred=" << p.gold;
  }
}

TEST(MathVerify, DifferentPairsRejected) {
  for (const auto& p : kDifferent) {
    EXPECT_FALSE(math_equal(p.gold, p.pred)) << "gold=" << p.gold << " pred=" << p.pred;
  }
}

TEST(MathVerify, EnoughCases) {
  EXPECT_GE(std::size(kEqual) + std::size(kDifferent), 150u);
}

TEST(MathVerify, ExtractBoxed) {
  EXPECT_EQ(extract_boxed("so \\boxed{42}."), "42");
  EXPECT_EQ(extract_boxed("\\boxed{1} then \\boxed{\\frac{1}{2}}"), "\\frac{1}{2}");
  EXPECT_EQ(extract_boxed("\\boxed{\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}}"), "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}");
  EXPECT_EQ(extract_boxed("$\\boxed 5$"), "5");
  EXPECT_EQ(extract_boxed("\\fbox{7}"), "7");
  EXPECT_EQ(extract_boxed("\\boxed{\\{1,2\\}}"), "\\{1,2\\}");
  EXPECT_FALSE(extract_boxed("\\boxed{12"));
  EXPECT_FALSE(extract_boxed("no box here 12"));
}

// Found by fuzz/latex_fuzz in make test: "\left{1}\cdot 3" (a \left without \right) had the value
// 3 but was not math_equal to itself, because math_equal refuses unbalanced LaTeX.
TEST(MathVerify, UnbalancedAnswerHasNoValue) {
  EXPECT_FALSE(numeric_value("\\left{1}\\cdot 3").has_value());
  EXPECT_FALSE(math_equal("\\left{1}\\cdot 3", "\\left{1}\\cdot 3"));
  ASSERT_TRUE(numeric_value("\\left(1\\right)\\cdot 3").has_value());
  EXPECT_EQ(*numeric_value("\\left(1\\right)\\cdot 3"), 3.0);
  EXPECT_TRUE(math_equal("\\left(1\\right)\\cdot 3", "\\left(1\\right)\\cdot 3"));
}

TEST(MathVerify, ExtractAnswer) {
  EXPECT_EQ(extract_answer("<think>1+1=2</think>The answer is \\boxed{2}."), "2");
  EXPECT_EQ(extract_answer("<think>x</think><answer> 17 </answer>"), "17");
  EXPECT_EQ(extract_answer("so she makes 9 * 2 = 18\n#### 18"), "18");
  EXPECT_EQ(extract_answer("first 3 then 1,250 dollars."), "1,250");
  EXPECT_EQ(extract_answer("the result is -3.5"), "-3.5");
  EXPECT_EQ(extract_answer("3/4 of it"), "3/4");
  EXPECT_EQ(extract_answer("no numbers"), "");
}

TEST(MathVerify, VerifyCompletions) {
  EXPECT_TRUE(verify("\\frac{1}{2}", "We get \\boxed{0.5}."));
  EXPECT_TRUE(verify("18", "She makes $18 per day."));
  EXPECT_FALSE(verify("18", "She makes 18 or 19"));
  EXPECT_FALSE(verify("18", "\\boxed{19} though 18 was close"));
  EXPECT_TRUE(verify("\\boxed{3}", "3"));
  EXPECT_TRUE(verify("(1,2)", "(1, 2)"));
  EXPECT_FALSE(verify("2", "(1, 2)"));
}

TEST(MathVerify, NormalizeKeys) {
  EXPECT_EQ(normalize_answer("\\frac{1}{2}"), normalize_answer("0.5"));
  EXPECT_EQ(normalize_answer("1,000"), normalize_answer("1000"));
  EXPECT_EQ(normalize_answer("\\text{Evelyn}"), normalize_answer("evelyn"));
  EXPECT_NE(normalize_answer("2"), normalize_answer("3"));
  EXPECT_EQ(numeric_value("\\frac{3}{2}"), 1.5);
  EXPECT_FALSE(numeric_value("x+1"));
}

// Rewritten forms of a gold answer that must stay equivalent: spacing, \dfrac, $...$, \boxed,
// decimal <-> fraction, thousands separators, "x = " for numbers.
std::vector<std::string> rewrites(const std::string& g) {
  std::vector<std::string> out;
  auto add = [&](std::string s) {
    if (s != g) out.push_back(std::move(s));
  };
  add("$" + g + "$");
  add(" " + g + " ");
  add("{" + g + "}");
  {  // spaces around operators and commas
    std::string s;
    for (char c : g) {
      if (c == '+' || c == '=' || c == ',') {
        s += ' ';
        s += c;
        s += ' ';
      } else {
        s += c;
      }
    }
    add(s);
  }
  {  // no spaces at all where LaTeX does not need them
    std::string s;
    for (size_t i = 0; i < g.size(); ++i) {
      if (g[i] == ' ' && i > 0 && i + 1 < g.size() && !std::isalpha(static_cast<unsigned char>(g[i - 1])) ) continue;
      s += g[i];
    }
    add(s);
  }
  {  // \frac -> \dfrac
    std::string s = std::regex_replace(g, std::regex(R"(\\frac)"), "\\dfrac");
    add(s);
  }
  // Pure numbers: decimal form, fraction form, thousands separators.
  std::smatch m;
  if (std::regex_match(g, m, std::regex(R"(^(-?)\\[dt]?frac\{(\d+)\}\{(\d+)\}$)"))) {
    const double v = std::stod(m[2].str()) / std::stod(m[3].str()) * (m[1].str().empty() ? 1 : -1);
    add(m[1].str() + m[2].str() + "/" + m[3].str());
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.12g", v);
    if (std::string(buf).size() < 10) add(buf);  // terminating decimals only
  }
  if (std::regex_match(g, std::regex(R"(^-?\d+$)"))) {
    add(g + ".0");
    std::string digits = g[0] == '-' ? g.substr(1) : g;
    if (digits.size() > 3) {
      std::string s;
      for (size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) s += ',';
        s += digits[i];
      }
      add((g[0] == '-' ? "-" : "") + s);
    }
    add("x = " + g);
    add("\\boxed{" + g + "}");
  }
  if (std::regex_match(g, std::regex(R"(^-?\d*\.\d+$)"))) add(g + "0");
  return out;
}

TEST(MathVerify, Math500GoldsAcceptedAgainstThemselvesAndRewrites) {
  R1_SKIP_UNLESS_SHARED("");
  std::ifstream f(r1::test::shared_path("data/math500/test.jsonl"));
  ASSERT_TRUE(f) << "missing data/math500/test.jsonl";
  std::string line;
  int n = 0, n_rewrites = 0;
  while (std::getline(f, line)) {
    const std::string gold = nlohmann::json::parse(line).at("answer").get<std::string>();
    ++n;
    EXPECT_TRUE(math_equal(gold, gold)) << gold;
    EXPECT_TRUE(verify(gold, "The answer is $\\boxed{" + gold + "}$.")) << gold;
    for (const auto& r : rewrites(gold)) {
      ++n_rewrites;
      EXPECT_TRUE(verify(gold, r)) << "gold=" << gold << " rewrite=" << r;
    }
  }
  EXPECT_EQ(n, 500);
  EXPECT_GT(n_rewrites, 1500);
}

TEST(MathVerify, Math500GoldsRejectNeighbours) {
  // A perturbed number must not match: every integer gold against gold+1.
  R1_SKIP_UNLESS_SHARED("");
  std::ifstream f(r1::test::shared_path("data/math500/test.jsonl"));
  std::string line;
  while (std::getline(f, line)) {
    const std::string gold = nlohmann::json::parse(line).at("answer").get<std::string>();
    if (!std::regex_match(gold, std::regex(R"(^-?\d+$)"))) continue;
    const long long v = std::stoll(gold);
    EXPECT_FALSE(math_equal(gold, std::to_string(v + 1))) << gold;
    EXPECT_FALSE(math_equal(gold, std::to_string(-v - 1))) << gold;
  }
}

}  // namespace
}  // namespace r1::rewards
