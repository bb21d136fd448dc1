"""A bounded schemathesis run of the whole API, in process: whatever a request holds, the
answer is never a 5xx, every error has the one shape (issue #10), and every answer is
what the OpenAPI document says it is (the typed responses)."""

from itertools import product

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from tastemaker.web.app import create_app
from tastemaker.workflows.rate import RateSession, RateSettings

EXAMPLES = 25  # per operation and mode: a few hundred requests in all


def test_no_request_gets_a_server_error_or_another_error_shape(library):
    app = create_app(RateSession(library, RateSettings(repeats=0), seed=0))
    # addressed as the person's browser would: the server refuses any other Host
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers={"Host": "127.0.0.1"})
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9

    calls = []
    for operation, mode in product(operations, GenerationMode):
        inputs = (operation.path_parameters, operation.query, operation.headers, operation.body)
        if mode is GenerationMode.NEGATIVE and not any(inputs):
            continue  # nothing it takes that could be invalid

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def answers_in_shape(case):
            response = case.call(base_url="http://127.0.0.1")
            calls.append(response.status_code)
            assert response.status_code < 500, (case.as_curl_command(), response.text)
            if response.status_code >= 400:
                body = response.json()
                assert body == {"ok": False, "error": body["error"], "status": response.status_code}
            case.validate_response(response, checks=[response_schema_conformance])

        answers_in_shape()
    assert len(calls) >= 200 and any(status == 200 for status in calls)
