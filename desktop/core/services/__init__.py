"""The engine's services: each UI controller is handed the one it uses."""

from .away import AwayService
from .channels import TEST_VISITOR, ChannelsService
from .conversations import ConversationsService
from .errors import EngineError, plainly
from .knowledge import AskResult, Drafters, KnowledgeService
from .preferences import Preferences
from .session import LocalRelay, LocalRelayFactory, SessionService
from .usage import DayUsage, UsageReport, UsageService

__all__ = [
    "TEST_VISITOR",
    "AskResult",
    "AwayService",
    "ChannelsService",
    "ConversationsService",
    "DayUsage",
    "Drafters",
    "EngineError",
    "KnowledgeService",
    "LocalRelay",
    "LocalRelayFactory",
    "Preferences",
    "SessionService",
    "UsageReport",
    "UsageService",
    "plainly",
]
