@cancel
Feature: A customer can stop an answer
  A customer who presses "stop" sees the answer stop at once. The backend confirms it,
  sends nothing more of that answer, keeps nothing of it, and the chat carries on.

  Background:
    Given I am connected to the chat backend

  @stop_streaming
  Scenario: Stopping a long answer while it streams
    Given I have asked for a long answer
    When I stop the answer while it streams
    Then the backend confirms the stop in time
    And no more of the stopped answer arrives
    And the stopped answer is closed off properly
    And nothing of the stopped answer is stored
    And the connection still responds
    And a next question is answered in full

  @stop_idle
  Scenario: Stopping when nothing is running changes nothing
    When I stop the answer although nothing is running
    Then the backend does not answer the stop
    And the connection still responds
    And a next question is answered in full

  @stop_speech
  Scenario: Stopping an answer that is being read aloud
    Given I have asked for a long answer read aloud
    When I stop the answer while it streams
    Then the backend confirms the stop in time
    And no more of the stopped answer arrives
    And the stopped answer is closed off properly
    And a next question is answered in full

  @stop_repeatedly
  Scenario: Asking and stopping several times on one connection
    When I ask for a long answer and stop it, 3 times in a row
    Then every stopped answer was confirmed and closed off
    And a next question is answered in full
    And the stopping events arrive in the right order
