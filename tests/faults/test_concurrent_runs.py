"""Ten `titanic-sm run` at once on a fresh state dir: every one completes and nothing shared is
corrupted (the data folder, the dataset versions in S3, the image push, the job store, runs/).

The runs alternate two split seeds, so two different datasets fight over the one data folder:
without the data lock, a run could upload a concurrent run's split under its own version.
Only the CLI is driven, so the test holds whatever runs the job behind it.
"""

from __future__ import annotations

import hashlib
import json
import time
from importlib import resources
from pathlib import Path

from cli_home import CliHome

from services import aws
from services.data import dataset, storage
from services.instance import quotas
from services.jobs.store import JobStore

RUNS = 10
SEEDS = ("42", "7")


def test_ten_concurrent_runs_complete_and_every_dataset_version_matches_its_objects(
    cli_home: CliHome,
) -> None:
    # Ten at once need an account that allows ten: on AWS a quota increase, here the stack's own
    # quota table (the shipped sample allows one ml.m5.large job, and the control plane enforces it).
    _allow_concurrent_jobs(cli_home.root, "ml.m5.large", RUNS)
    started = time.monotonic()
    processes = [
        cli_home.start("run", "--seed", SEEDS[i % len(SEEDS)], "--hp", "num_leaves=7", "--hp", "cv_folds=0")
        for i in range(RUNS)
    ]
    outputs = [process.communicate(timeout=1500) for process in processes]
    wall = time.monotonic() - started
    failed = [
        (p.returncode, err[-1500:]) for p, (_, err) in zip(processes, outputs, strict=True) if p.returncode
    ]
    assert not failed, failed
    print(f"{RUNS} concurrent runs on a fresh state dir: {wall:.0f} s")  # shown with -s / -rA

    settings = cli_home.settings
    names = [_job_name(out) for out, _ in outputs]
    assert len(set(names)) == RUNS

    # The job store: every job Completed, its model hash recorded and equal to what runs/ holds.
    store = JobStore(settings.job_store_path)
    for name in names:
        job = store.get(name)
        assert job.status == "Completed", (name, job.status, job.failure_reason)
        model = settings.runs_dir / name / "model" / "model.joblib"
        assert job.model_sha256 == hashlib.sha256(model.read_bytes()).hexdigest()
        assert json.loads((settings.runs_dir / name / "run.json").read_text())["status"] == "Completed"
    # runs/ holds exactly the ten runs: no staging folder left behind.
    assert sorted(p.name for p in settings.runs_dir.iterdir()) == sorted(names)

    # S3: one version per seed, each manifest's sha256 equal to its objects' bytes, each version
    # the content hash of those bytes.
    versions = storage.list_dataset_versions(settings)
    assert len(versions) == len(SEEDS), [v.version for v in versions]
    s3 = aws.client(settings, "s3")
    for version in versions:
        hashes: dict[str, tuple[str, str]] = {}
        for channel, files in version.manifest["sha256"].items():
            for file_name, expected in files.items():
                _, prefix = storage.parse_s3_uri(version.channels[channel])
                body = s3.get_object(Bucket=settings.bucket, Key=prefix + file_name)["Body"].read()
                assert hashlib.sha256(body).hexdigest() == expected, (version.version, channel)
                # What the run prepared for that version is what was uploaded.
                assert version.manifest["prepared"]["files"][file_name]["sha256"] == expected
                hashes[channel] = (file_name, expected)
        assert storage._version_of(hashes) == version.version
    # Each job trained on a version whose seed is the one it asked for.
    by_version = {v.version: v.manifest["prepared"]["seed"] for v in versions}
    for name, process in zip(names, processes, strict=True):
        seed = int(process.args[process.args.index("--seed") + 1])
        assert by_version[store.get(name).dataset_version] == seed

    # The data folder: consistent with its own manifest, and no temp file left in it.
    dataset.read_prepared(settings.data_dir)
    assert sorted(p.name for p in settings.data_dir.iterdir()) == sorted(
        [".lock", dataset.TRAIN_FILE, dataset.VALIDATION_FILE, dataset.MANIFEST_FILE]
    )


def _job_name(stdout: str) -> str:
    line = next(line for line in stdout.splitlines() if line.startswith("job:"))
    return line.split()[1]


def _allow_concurrent_jobs(root: Path, instance_type: str, count: int) -> None:
    """A quota table like the sample, ``instance_type`` at ``count``, named in the run's config file."""
    sample = json.loads(resources.files("services.instance.data").joinpath(quotas.SAMPLE_FILE).read_text())
    for listing in ("ListServiceQuotas", "ListAWSDefaultServiceQuotas"):
        for page in sample[listing]:
            for quota in page["Quotas"]:
                if quota["QuotaName"].startswith(f"{instance_type} for "):
                    quota["Value"] = float(count)
    (root / "quotas.json").write_text(json.dumps(sample))
    (root / "titanic-sm.toml").write_text('local_quotas_file = "quotas.json"\n')
