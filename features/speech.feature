@tts
Feature: Answers can be spoken aloud
  A customer who asks for speech hears the answer as well as reading it. The text and the
  audio each say when they are finished; the audio may play along with the text or follow it.

  Background:
    Given I am connected to the chat backend

  @spoken_answer
  Scenario: An answer is written and spoken
    When I ask a question and want to hear the answer
    Then the answer streams in as text and as audio
    And both the text and the speech say they are finished
    And the audio is real sound
    And the speech events arrive in the right order

  @read_aloud
  Scenario: An earlier answer is read aloud
    Given I have asked a question and got its answer
    When I ask for that answer to be read aloud
    Then it is spoken and no new answer is written
    And the audio is real sound
    And the speech events arrive in the right order
