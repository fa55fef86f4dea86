@cancel
Feature: A customer can stop an answer
  When I press "stop", the answer stops at once: the assistant confirms the stop in time, sends
  nothing more of that answer, neither text nor sound, marks it as finished, keeps nothing of it,
  and the chat carries on. "In time" means within the error_timeout setting: 5 seconds unless the
  run sets another number. A stop works while the answer is written and while it is read aloud,
  again and again on one connection; a stop with nothing running changes nothing.

  Background:
    Given I am connected to the assistant

  @stop_streaming
  Scenario: Stopping a long answer while it streams
    Given I have asked for a long answer
    When I stop the answer while it streams
    Then the assistant confirms the stop in time
    And no more of the stopped answer arrives
    And the stopped answer is marked as finished, once
    And nothing of the stopped answer is stored
    And the connection still responds
    And a next question is answered in full

  @stop_idle
  Scenario: Stopping when nothing is running changes nothing
    When I stop the answer although nothing is running
    Then the assistant does not answer the stop
    And the connection still responds
    And a next question is answered in full

  @stop_speech
  Scenario: Stopping an answer that is being read aloud
    Given I have asked for a long answer read aloud
    When I stop the answer while it is read aloud
    Then the assistant confirms the stop in time
    And no more of the stopped answer arrives
    And the stopped answer is marked as finished, once
    And nothing of the stopped answer is stored
    And a next question is answered in full

  @stop_repeatedly
  Scenario: Asking and stopping several times on one connection
    When I ask for a long answer and stop it, 3 times in a row
    Then every stop was confirmed in time and no more of its answer arrived
    And every stopped answer is marked as finished, once
    And nothing of the stopped answers is stored
    And a next question is answered in full
