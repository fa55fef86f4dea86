@tts
Feature: Answers can be spoken aloud
  A customer who asks for speech hears the answer while reading it. The text and the audio
  arrive side by side, and each says when it is finished.

  Scenario: An answer is written and spoken at the same time
    Given I am connected to the chat backend
    When I ask a question and want to hear the answer
    Then the answer streams in as text and as audio
    And both the text and the speech say they are finished
    And the audio is real sound
    And the speech events arrive in the promised order

  Scenario: A given text is read aloud as it is
    Given I am connected to the chat backend
    When I ask for a text to be read aloud, without an answer
    Then the text is spoken and no answer is written
    And the audio is real sound
    And the speech events arrive in the promised order
