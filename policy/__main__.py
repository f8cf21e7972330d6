"""Entry point the Pulumi CLI runs for `--policy-pack policy`: serves the rules in policies.py."""

from policies import POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(name="vllm-datasphere", policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
