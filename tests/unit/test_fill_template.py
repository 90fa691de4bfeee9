import pytest

from triton_openai.repository.fill_template import TemplateError, fill_template, placeholders


def test_fills_and_escapes_pbtxt_strings():
    out = fill_template('x: "${a}" y: ${b}', {"a": 'say "hi"\\', "b": 3})
    assert out == 'x: "say \\"hi\\"\\\\" y: 3'


def test_missing_value_is_an_error():
    with pytest.raises(TemplateError, match="no value for b"):
        fill_template("${a} ${b}", {"a": 1})


def test_unused_value_is_an_error_unless_allowed():
    with pytest.raises(TemplateError, match="not used"):
        fill_template("${a}", {"a": 1, "typo": 2})
    assert fill_template("${a}", {"a": 1, "extra": 2}, allow_unused=True) == "1"


def test_placeholders():
    assert placeholders("${a} $b ${c_1}") == {"a", "c_1"}
