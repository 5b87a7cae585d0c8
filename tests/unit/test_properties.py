"""Property tests: any value the schema accepts reads back with the same JSON text,
and any value it rejects leaves nothing stored."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore import jsonio

URL = "/api/v1/items"
_keys = itertools.count()

# Text that JSON and DynamoDB carry: no lone surrogates.
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


@st.composite
def number_texts(draw) -> str:
    """JSON number text within DynamoDB's range: up to 38 digits, exponent or not."""
    digits = draw(st.text("0123456789", min_size=1, max_size=38))
    digits = digits.lstrip("0") or "0"
    sign = draw(st.sampled_from(["", "-"]))
    form = draw(st.sampled_from(["integer", "fraction", "exponent"]))
    if form == "integer":
        return sign + digits
    if form == "fraction":
        point = draw(st.integers(1, len(digits)))
        whole, fraction = digits[:point], digits[point:] or "0"
        return f"{sign}{whole}.{fraction}"
    exponent = draw(st.integers(-90, 80))
    return f"{sign}{digits[0]}.{digits[1:] or '0'}e{exponent}"


scalar_texts = st.one_of(
    st.just("null"),
    st.sampled_from(["true", "false"]),
    number_texts(),
    texts.map(jsonio.dumps),
)
list_texts = st.lists(
    st.one_of(number_texts(), texts.map(jsonio.dumps)), max_size=5
).map(lambda elements: "[" + ",".join(elements) + "]")
value_texts = st.one_of(scalar_texts, list_texts)

invalid_value_texts = st.one_of(
    st.just('{"nested": 1}'),
    st.just("[[1]]"),
    st.just("[true]"),
    st.just("[null]"),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]),
    st.integers(131, 400).map(lambda exponent: f"1e-{exponent}"),
    st.integers(126, 300).map(lambda exponent: f"1e{exponent}"),
    st.integers(39, 60).map(lambda length: "9" * length),
)


def _body(entity_value: str, feature_text: str) -> str:
    return (
        '{"meta":{"source":"property"},"data":{"entity_type":"prop",'
        f'"entity_value":{jsonio.dumps(entity_value)},"category":"c",'
        f'"features":{{"value":{feature_text}}}}}}}'
    )


def _key(entity_value: str) -> dict[str, str]:
    return {"entity_type": "prop", "entity_value": entity_value, "category": "c"}


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(feature_text=value_texts)
def test_accepted_value_reads_back_same_text(client, feature_text):
    entity_value = f"accepted-{next(_keys)}"

    written = client.post(
        URL, data=_body(entity_value, feature_text), content_type="application/json"
    )
    read = client.get(URL, query_string=_key(entity_value))

    assert written.status_code == 201, written.get_json()
    features = jsonio.loads(read.data)["features"]
    assert jsonio.dumps(features["value"]) == jsonio.dumps(jsonio.loads(feature_text))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(feature_text=invalid_value_texts)
def test_rejected_value_stores_nothing(client, publisher, feature_text):
    entity_value = f"rejected-{next(_keys)}"

    written = client.post(
        URL, data=_body(entity_value, feature_text), content_type="application/json"
    )
    read = client.get(URL, query_string=_key(entity_value))

    assert written.status_code == 400
    assert "data.features.value" in written.get_json()["error"]["details"]
    assert read.status_code == 404
    assert all(key != f"prop#{entity_value}" for key, _ in publisher.events)
