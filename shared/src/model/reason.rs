//! Why a run exited, why a wait woke, why a message was not sent: closed sets, so every
//! place that decides one names it the same way. The journal keeps them as the strings
//! `as_str` gives (the journal contract), so consumers see no change.

/// Why a run ended (`exited`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// Walked off the end of its steps.
    Completed,
    /// Reached an `end` step.
    Ended,
    /// Its `exit_when` held.
    ExitWhen,
    /// A goal with `otherwise: end` was reached without the goal holding.
    GoalEnd,
    /// Another workflow's `stop` step ended it.
    Stopped,
    /// One input caused more steps than the engine allows (a safety net).
    StepLimit,
    /// Its contact was merged into one whose own run of the workflow it may not join.
    Merged,
}

impl ExitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ExitReason::Completed => "completed",
            ExitReason::Ended => "ended",
            ExitReason::ExitWhen => "exit_when",
            ExitReason::GoalEnd => "goal_end",
            ExitReason::Stopped => "stopped",
            ExitReason::StepLimit => "step_limit",
            ExitReason::Merged => "merged",
        }
    }
}

/// Why a waiting run moved on (`woke`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakeReason {
    /// A `wait: until` condition came true.
    Condition,
    /// A condition wait or a goal's wait ran out.
    Timeout,
    /// A wait for a duration or a time was over.
    Time,
}

impl WakeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            WakeReason::Condition => "condition",
            WakeReason::Timeout => "timeout",
            WakeReason::Time => "time",
        }
    }
}

/// Why the delivery policy did not let a message out (`message_suppressed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suppression {
    Unsubscribed,
    Bounced,
    Complained,
    FrequencyCap,
    NoAddress,
    InvalidPhone,
    InvalidEmail,
    /// The template is missing, does not serve the channel, or did not render.
    RenderError,
    /// Held (quiet hours) and released after its run was ended.
    RunEnded,
    /// Held and released after its run achieved a goal.
    GoalAchieved,
    /// Its broadcast run was cancelled before it went out.
    BroadcastCancelled,
}

impl Suppression {
    pub fn as_str(self) -> &'static str {
        match self {
            Suppression::Unsubscribed => "unsubscribed",
            Suppression::Bounced => "bounced",
            Suppression::Complained => "complained",
            Suppression::FrequencyCap => "frequency_cap",
            Suppression::NoAddress => "no_address",
            Suppression::InvalidPhone => "invalid_phone",
            Suppression::InvalidEmail => "invalid_email",
            Suppression::RenderError => "render_error",
            Suppression::RunEnded => "run_ended",
            Suppression::GoalAchieved => "goal_achieved",
            Suppression::BroadcastCancelled => "broadcast_cancelled",
        }
    }
}
