"""ECR as the push path sees it, against moto: the repository's settings and the login mapping."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from botocore.exceptions import ClientError

from services import aws
from services.image import images
from services.settings import LOCAL_ACCOUNT_ID, Settings


@pytest.fixture
def repo_settings(settings: Settings) -> Settings:
    return settings.with_overrides(repository=f"titanic-training-{uuid.uuid4().hex[:8]}")


def test_repository_is_created_immutable_scanned_and_pruned(repo_settings: Settings) -> None:
    uri = images.ensure_repository(repo_settings)
    ecr = aws.client(repo_settings, "ecr")
    repository = ecr.describe_repositories(repositoryNames=[repo_settings.repository])["repositories"][0]
    assert uri == repository["repositoryUri"]
    assert (
        uri == f"{LOCAL_ACCOUNT_ID}.dkr.ecr.{repo_settings.region}.amazonaws.com/{repo_settings.repository}"
    )
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    policy = json.loads(
        ecr.get_lifecycle_policy(repositoryName=repo_settings.repository)["lifecyclePolicyText"]
    )
    assert policy == json.loads(images.lifecycle_policy(images.KEEP_LAST_IMAGES))


def test_an_existing_repository_is_reused_untouched(repo_settings: Settings) -> None:
    ecr = aws.client(repo_settings, "ecr")
    created = ecr.create_repository(repositoryName=repo_settings.repository)["repository"]
    assert images.ensure_repository(repo_settings) == created["repositoryUri"]
    assert images.ensure_repository(repo_settings) == created["repositoryUri"]
    with pytest.raises(ClientError, match="LifecyclePolicyNotFound"):
        ecr.get_lifecycle_policy(repositoryName=repo_settings.repository)


def test_the_ecr_login_maps_onto_the_local_registry(repo_settings: Settings) -> None:
    ecr = aws.client(repo_settings, "ecr")
    token = ecr.get_authorization_token()["authorizationData"][0]
    assert ".dkr.ecr." in token["proxyEndpoint"]  # moto's fake endpoint: it stores no image bytes
    user, password, registry = images._authorization(repo_settings, ecr)
    assert f"{user}:{password}" == base64.b64decode(token["authorizationToken"]).decode()
    assert user == "AWS"
    # The contract tier's stand-in stack names its registry 127.0.0.1:0 (see tests/contract/conftest.py).
    assert registry == "127.0.0.1:0"
    ecr_uri = images.ensure_repository(repo_settings)
    assert images.push_repository_uri(repo_settings, ecr_uri) == f"127.0.0.1:0/{repo_settings.repository}"


def test_on_aws_the_ecr_endpoint_is_the_registry() -> None:
    settings = Settings(
        target="aws", bucket="my-bucket", role_arn="arn:aws:iam::210987654321:role/r", region="eu-west-1"
    )
    endpoint = "https://210987654321.dkr.ecr.eu-west-1.amazonaws.com"
    assert images.registry_host(settings, endpoint) == "210987654321.dkr.ecr.eu-west-1.amazonaws.com"
    uri = "210987654321.dkr.ecr.eu-west-1.amazonaws.com/titanic-training"
    assert images.push_repository_uri(settings, uri) == uri
