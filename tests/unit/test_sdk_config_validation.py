"""The SDK's defaults config is still validated at every lookup once the schema is checked once
(``estimator._check_config_schema_once``): a bad config is refused as ``jsonschema.validate``
refuses it, and a good one reads back its values."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest

from services.training import estimator

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def sdk() -> Any:
    estimator._check_config_schema_once()
    import sagemaker.utils

    return sagemaker.utils


def test_a_session_config_is_validated_and_read_at_each_lookup(sdk: Any) -> None:
    from sagemaker.config.config_schema import TELEMETRY_OPT_OUT_PATH

    opted_out = sdk.resolve_value_from_config(
        config_path=TELEMETRY_OPT_OUT_PATH,
        default_value=False,
        sagemaker_config=estimator.TELEMETRY_OPT_OUT_CONFIG,
    )
    assert opted_out is True


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c["SageMaker"]["PythonSDK"]["Modules"].update(TelemetryOptOut="yes"),  # not a boolean
        lambda c: c["SageMaker"].update(NoSuchSection={}),  # an unknown key
        lambda c: c.update(SchemaVersion="9.9"),  # an unknown schema version
    ],
)
def test_a_bad_config_is_refused_with_the_error_jsonschema_gives(sdk: Any, change: Any) -> None:
    from sagemaker.config.config_schema import SAGEMAKER_PYTHON_SDK_CONFIG_SCHEMA, TELEMETRY_OPT_OUT_PATH

    bad = copy.deepcopy(estimator.TELEMETRY_OPT_OUT_CONFIG)
    change(bad)
    with pytest.raises(jsonschema.ValidationError) as expected:
        jsonschema.validate(bad, SAGEMAKER_PYTHON_SDK_CONFIG_SCHEMA)
    with pytest.raises(jsonschema.ValidationError) as refused:
        sdk.resolve_value_from_config(config_path=TELEMETRY_OPT_OUT_PATH, sagemaker_config=bad)
    assert refused.value.message == expected.value.message
    assert list(refused.value.path) == list(expected.value.path)


def test_the_session_module_validates_with_the_same_function(sdk: Any) -> None:
    import sagemaker.session

    assert sagemaker.session.validate_sagemaker_config is sdk.validate_sagemaker_config
